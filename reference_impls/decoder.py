"""One pre-norm Transformer decoder layer: masked self-attention, cross-attention, feed-forward.

Contract 6 of docs/contracts.md: ``TransformerDecoderLayer(d_model, num_heads, d_ff, dropout=0.1)``.
Pre-norm (Xiong et al., 2020): each sub-layer reads a normalized copy of the residual stream
and adds its (dropped-out) output back, so the stream itself is never normalized.
"""

from __future__ import annotations

import torch
from torch import nn

from pytest_mlbugs.reference_impls.attention import MultiHeadAttention


class TransformerDecoderLayer(nn.Module):
    """Self-attention over the decoder input, attention over the encoder output, then an MLP.

    Args:
        d_model: width of the residual stream.
        num_heads: attention heads in both attention blocks.
        d_ff: hidden width of the feed-forward block.
        dropout: dropout on the attention weights, inside the feed-forward block and on each
            sub-layer's output before it is added back; active in training mode only.
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.ffn = nn.Sequential(
            nn.Linear(d_model, d_ff),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(d_ff, d_model),
        )
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(
        self,
        x: torch.Tensor,
        encoder_output: torch.Tensor,
        self_attn_mask: torch.Tensor | None = None,
        cross_attn_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Run the three sub-layers on ``x`` (B, T, d_model).

        Args:
            encoder_output: (B, S, d_model), the memory that cross-attention reads.
            self_attn_mask: boolean, broadcastable to (B, H, T, T); True where a position may
                attend (a causal mask for autoregressive decoding).
            cross_attn_mask: boolean, broadcastable to (B, H, T, S); True where a decoder
                position may attend to an encoder position (hides encoder padding).

        Returns:
            (B, T, d_model)
        """
        h = self.norm1(x)  # (B, T, d_model): queries, keys and values of self-attention
        x = x + self.dropout1(self.self_attn(h, h, h, mask=self_attn_mask))
        h = self.norm2(x)
        x = x + self.dropout2(self.cross_attn(h, encoder_output, encoder_output, mask=cross_attn_mask))
        x = x + self.dropout3(self.ffn(self.norm3(x)))
        return x
