"""Root-mean-square layer normalization (Zhang and Sennrich, 2019), as Llama uses it.

Contract 14 of docs/contracts.md: ``RMSNorm(dim, eps=1e-6)``. Unlike layer normalization it
neither centres a row nor adds a bias: each row is divided by its root mean square and scaled by
a learned gain. The statistic is computed in float32 at least: squaring and averaging thousands
of bfloat16 values in bfloat16 keeps 8 bits of each, and the error shows in every output.
"""

from __future__ import annotations

import torch
from torch import nn


class RMSNorm(nn.Module):
    """Normalize the last axis to unit root mean square, then scale by ``weight``.

    Args:
        dim: size of the last axis.
        eps: added to the mean square inside the square root, so a zero row stays finite.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))  # the identity gain at initialisation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., dim) -> (..., dim), in the dtype of ``x``."""
        # float32 at least for the reduction; a float64 input keeps its precision
        upcast = x.to(torch.promote_types(x.dtype, torch.float32))
        mean_square = upcast.pow(2).mean(dim=-1, keepdim=True)  # (..., 1)
        normed = upcast * torch.rsqrt(mean_square + self.eps)  # (..., dim), unit root mean square
        return normed.to(x.dtype) * self.weight
