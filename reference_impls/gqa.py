"""Grouped-query attention with rotary embeddings and a growing key/value cache, as in Llama 2/3.

Contract 16 of docs/contracts.md:
``GroupedQueryAttention(d_model, num_heads, num_kv_heads, max_seq_len=2048, rope_base=10000.0)``.
``num_kv_heads`` key/value heads are shared by groups of ``num_heads // num_kv_heads`` query
heads, which shrinks the cache by that factor. The cache holds the keys after rotation and
before they are repeated per query head: a cached key is rotated once, at its own position.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pytest_mlbugs.reference_impls.rope import RotaryEmbedding


class GroupedQueryAttention(nn.Module):
    """Causal self-attention whose query heads share key/value heads in contiguous groups.

    Args:
        d_model: width of the inputs and the output.
        num_heads: query heads; must divide ``d_model``.
        num_kv_heads: key/value heads; must divide ``num_heads``.
        max_seq_len: the most positions, cached ones included, that the rotation covers.
        rope_base: the base of the rotary frequencies.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        num_kv_heads: int,
        max_seq_len: int = 2048,
        rope_base: float = 10000.0,
    ) -> None:
        super().__init__()
        if d_model % num_heads != 0 or num_heads % num_kv_heads != 0:
            raise ValueError(
                f"need num_heads | d_model and num_kv_heads | num_heads, got {d_model}, {num_heads}, "
                f"{num_kv_heads}"
            )
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.head_dim = d_model // num_heads
        self.group_size = num_heads // num_kv_heads  # query heads per key/value head
        self.q_proj = nn.Linear(d_model, num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(d_model, num_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(d_model, num_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(num_heads * self.head_dim, d_model, bias=False)
        self.rotary = RotaryEmbedding(self.head_dim, max_seq_len=max_seq_len, base=rope_base)

    def forward(
        self, x: torch.Tensor, past_kv: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Attend from the new positions ``x`` (B, T, d_model) to the cached ones and themselves.

        Args:
            past_kv: ``(k, v)``, each (B, num_kv_heads, past_len, head_dim), from earlier calls.

        Returns:
            ``(out, (k, v))``: out is (B, T, d_model); k and v are (B, num_kv_heads,
            past_len + T, head_dim), the cache to pass to the next call.
        """
        batch, seq_len, _ = x.shape
        past_len = 0 if past_kv is None else past_kv[0].shape[2]
        q = self.q_proj(x).view(batch, seq_len, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(batch, seq_len, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(batch, seq_len, self.num_kv_heads, self.head_dim).transpose(1, 2)

        # the new rows sit at positions past_len .. past_len + T - 1, after the cached ones
        q = self.rotary(q, start_pos=past_len)  # (B, H, T, hd)
        k = self.rotary(k, start_pos=past_len)  # (B, KV, T, hd)
        if past_kv is not None:
            past_k, past_v = past_kv
            k = torch.cat([past_k, k], dim=2)  # (B, KV, S, hd), S = past_len + T
            v = torch.cat([past_v, v], dim=2)
        new_kv = (k, v)  # cached before the repeat: num_kv_heads heads, not num_heads

        # query head h reads key/value head h // group_size: repeat each kv head for its group
        k = k.repeat_interleave(self.group_size, dim=1)  # (B, H, S, hd)
        v = v.repeat_interleave(self.group_size, dim=1)

        scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.head_dim)  # (B, H, T, S)
        # query t is position past_len + t: it reads every key up to its own position
        causal = torch.ones(seq_len, k.shape[2], dtype=torch.bool, device=x.device).tril(diagonal=past_len)
        scores = scores.masked_fill(~causal, float("-inf"))
        weights = F.softmax(scores, dim=-1)  # (B, H, T, S)

        context = torch.matmul(weights, v)  # (B, H, T, hd)
        context = context.transpose(1, 2).contiguous().view(batch, seq_len, self.num_heads * self.head_dim)
        return self.o_proj(context), new_kv
