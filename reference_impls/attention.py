"""Multi-head scaled dot-product attention, written out step by step.

Contract 1 of docs/contracts.md: ``MultiHeadAttention(d_model, num_heads, dropout=0.0)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAttention(nn.Module):
    """Attention with ``num_heads`` heads of size ``d_model // num_heads``.

    Args:
        d_model: width of the inputs and the output.
        num_heads: number of heads; must divide ``d_model``.
        dropout: dropout on the attention weights, active in training mode only.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_k = d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        x = x.view(batch, length, self.num_heads, self.d_k)  # (B, T, H, d_k)
        return x.transpose(1, 2)  # (B, H, T, d_k)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Attend from ``query`` (B, Tq, d_model) to ``key``/``value`` (B, Tk, d_model).

        Args:
            mask: boolean, broadcastable to (B, H, Tq, Tk); True where a query may attend.

        Returns:
            (B, Tq, d_model)
        """
        batch, q_len, _ = query.shape
        q = self._split_heads(self.q_proj(query))  # (B, H, Tq, d_k)
        k = self._split_heads(self.k_proj(key))  # (B, H, Tk, d_k)
        v = self._split_heads(self.v_proj(value))  # (B, H, Tk, d_k)

        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.d_k)  # (B, H, Tq, Tk)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = F.softmax(scores, dim=-1)  # each query's weights over the keys sum to 1
        weights = self.dropout(weights)

        context = torch.matmul(weights, v)  # (B, H, Tq, d_k)
        context = context.transpose(1, 2).contiguous().view(batch, q_len, self.d_model)
        return self.out_proj(context)
