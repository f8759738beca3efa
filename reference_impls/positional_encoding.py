"""Sinusoidal positional encoding ("Attention Is All You Need", section 3.5).

Contract 2 of docs/contracts.md: ``PositionalEncoding(d_model, max_len=5000, dropout=0.0)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class PositionalEncoding(nn.Module):
    """Adds a fixed table of sines and cosines to batch-first inputs, then applies dropout.

    ``pe[0, pos, 2i] = sin(pos / 10000^(2i / d_model))`` and
    ``pe[0, pos, 2i + 1] = cos(pos / 10000^(2i / d_model))``.

    Args:
        d_model: width of the inputs.
        max_len: the longest sequence the table covers.
        dropout: dropout on the sum, active in training mode only.
    """

    pe: torch.Tensor

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)  # (max_len, 1)
        # 1 / 10000^(2i / d_model), computed in log space for accuracy: (ceil(d_model / 2),)
        div_term = torch.exp(
            torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model)
        )
        angles = position * div_term  # (max_len, ceil(d_model / 2))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(angles)
        pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])  # an odd d_model has one cosine column fewer
        # A buffer, not a parameter: saved in the state_dict, moved by .to(), never trained.
        self.register_buffer("pe", pe.unsqueeze(0))  # (1, max_len, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Add the encodings of positions ``0 .. T-1`` to ``x`` (B, T, d_model).

        Returns:
            (B, T, d_model)
        """
        x = x + self.pe[:, : x.size(1)]
        return self.dropout(x)
