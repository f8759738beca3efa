"""One Llama transformer block: pre-norm grouped-query attention, then a SwiGLU feed-forward.

Contract 17 of docs/contracts.md: ``FeedForward(d_model, hidden_dim)`` and
``TransformerBlock(d_model, num_heads, num_kv_heads, hidden_dim, eps=1e-6)``. Each sub-layer
reads an RMS-normalized copy of the residual stream and adds its output back, so the stream
itself is never normalized and gradients reach early blocks through the additions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from pytest_mlbugs.reference_impls.gqa import GroupedQueryAttention
from pytest_mlbugs.reference_impls.rmsnorm import RMSNorm


class FeedForward(nn.Module):
    """SwiGLU (Shazeer, 2020): a SiLU-gated branch ``w1`` times a linear branch ``w3``, then ``w2``.

    Args:
        d_model: width of the inputs and the output.
        hidden_dim: width of the two inner branches.
    """

    def __init__(self, d_model: int, hidden_dim: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(d_model, hidden_dim, bias=False)  # the gate
        self.w3 = nn.Linear(d_model, hidden_dim, bias=False)  # the value it gates
        self.w2 = nn.Linear(hidden_dim, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, d_model) -> (B, T, d_model)"""
        return self.w2(F.silu(self.w1(x)) * self.w3(x))  # the gate and the value: (B, T, hidden_dim)


class TransformerBlock(nn.Module):
    """``h = x + attention(attention_norm(x))``, then ``out = h + feed_forward(ffn_norm(h))``.

    Args:
        d_model: width of the residual stream.
        num_heads: query heads of the attention.
        num_kv_heads: key/value heads of the attention.
        hidden_dim: inner width of the feed-forward block.
        eps: the epsilon of both norms.
    """

    def __init__(
        self, d_model: int, num_heads: int, num_kv_heads: int, hidden_dim: int, eps: float = 1e-6
    ) -> None:
        super().__init__()
        self.attention_norm = RMSNorm(d_model, eps=eps)
        self.attention = GroupedQueryAttention(d_model, num_heads, num_kv_heads)
        self.ffn_norm = RMSNorm(d_model, eps=eps)
        self.feed_forward = FeedForward(d_model, hidden_dim)

    def forward(
        self, x: torch.Tensor, past_kv: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Run both sub-layers on the new positions ``x`` (B, T, d_model).

        Args:
            past_kv: the attention's cache from earlier calls (contract 16), or ``None``.

        Returns:
            ``(out, new_past_kv)``: out is (B, T, d_model); new_past_kv is the attention's cache.
        """
        attended, new_past_kv = self.attention(self.attention_norm(x), past_kv)  # (B, T, d_model)
        x = x + attended
        x = x + self.feed_forward(self.ffn_norm(x))
        return x, new_past_kv
