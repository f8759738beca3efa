"""Rotary position embeddings (Su et al., 2021) in the half-split layout of GPT-NeoX and Llama.

Contract 15 of docs/contracts.md: ``RotaryEmbedding(head_dim, max_seq_len=2048, base=10000.0)``.
Feature ``j`` of a head is paired with feature ``j + D/2``, and at position ``p`` the pair is
rotated by the angle ``p * base^(-2j / D)``. The dot product of a query rotated at position ``m``
with a key rotated at position ``n`` then depends only on ``m - n``: attention sees relative
positions, and a key cached at its own position never needs rotating again.
"""

from __future__ import annotations

import torch
from torch import nn


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(..., D) -> (..., D): each pair ``(x_j, x_{j + D/2})`` becomes ``(-x_{j + D/2}, x_j)``,
    a quarter turn of the pair."""
    half = x.shape[-1] // 2
    x1 = x[..., :half]  # (..., D/2): the first feature of every pair
    x2 = x[..., half:]  # (..., D/2): the second
    return torch.cat((-x2, x1), dim=-1)


class RotaryEmbedding(nn.Module):
    """Rotate queries or keys by their positions, from tables computed once.

    Args:
        head_dim: width ``D`` of one head; even.
        max_seq_len: the most positions the tables cover.
        base: the wavelength scale; pair ``j`` turns by ``base^(-2j / D)`` radians per position.
    """

    cos: torch.Tensor
    sin: torch.Tensor

    def __init__(self, head_dim: int, max_seq_len: int = 2048, base: float = 10000.0) -> None:
        super().__init__()
        if head_dim % 2 != 0:
            raise ValueError(f"head_dim={head_dim} must be even: features are rotated in pairs")
        self.head_dim = head_dim
        self.max_seq_len = max_seq_len
        # angles in float32: in bfloat16, positions above 256 are no longer exact integers
        inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # (D/2,)
        positions = torch.arange(max_seq_len, dtype=torch.float32)  # (S,)
        angles = torch.outer(positions, inv_freq)  # (S, D/2)
        angles = torch.cat((angles, angles), dim=-1)  # (S, D): pair j at columns j and j + D/2
        # buffers follow .to(device); not saved with the weights, they derive from the arguments
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor, start_pos: int = 0) -> torch.Tensor:
        """Rotate ``x`` (B, H, T, D) as positions ``start_pos .. start_pos + T - 1``.

        Returns:
            (B, H, T, D), in the dtype of ``x``.

        Raises:
            ValueError: a position is at or beyond ``max_seq_len``.
        """
        seq_len = x.shape[-2]
        if start_pos + seq_len > self.max_seq_len:
            raise ValueError(
                f"positions {start_pos}..{start_pos + seq_len - 1} exceed max_seq_len={self.max_seq_len}"
            )
        cos = self.cos[start_pos : start_pos + seq_len]  # (T, D): broadcasts over (B, H)
        sin = self.sin[start_pos : start_pos + seq_len]
        # the float32 tables promote a half-precision x; the result goes back to x's dtype
        return (x * cos + rotate_half(x) * sin).to(x.dtype)
