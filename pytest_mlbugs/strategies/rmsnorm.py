"""Inputs for RMS normalization (contract 14)."""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import strategies as st

from pytest_mlbugs import devices
from pytest_mlbugs.strategies.tensors import generator, normal, seeds


@dataclasses.dataclass(frozen=True)
class RMSNormCase:
    batch: int
    length: int
    dim: int
    #: ``eps = 10 ** -eps_exponent``; a large eps makes its place (inside the root or not) show
    eps_exponent: int
    seed: int

    @property
    def eps(self) -> float:
        return 10.0**-self.eps_exponent

    def make_input(self, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """(batch, length, dim) rows with their own spread and an offset as large as the spread
        (a mean square is then far from a variance or a squared mean); the first row is nearly
        zero, so that the epsilon matters there."""
        gen = generator(self.seed)
        x = normal(gen, (self.batch, self.length, self.dim))
        x = x * (torch.rand((self.batch, self.length, 1), generator=gen) * 3 + 0.2)
        x = x + normal(gen, (self.batch, self.length, 1), scale=2.0)
        x[0, 0] = x[0, 0] * 1e-3
        return devices.put(x.to(dtype))

    def make_weight(self) -> torch.Tensor:
        """A gain far from the initial ones, on the CPU: a dropped or misplaced weight shows."""
        return normal(generator(self.seed + 1), (self.dim,)) + 0.5


def rmsnorm_cases(
    *,
    max_batch: int = 3,
    max_length: int = 4,
    min_dim: int = 2,
    max_dim: int = 12,
    min_eps_exponent: int = 1,
    max_eps_exponent: int = 6,
) -> st.SearchStrategy[RMSNormCase]:
    """At least two rows along each leading axis (so that normalizing over the wrong one
    shows) and a feature axis of at least 2."""
    if max_batch < 2 or max_length < 2:
        raise ValueError("max_batch and max_length must be at least 2")
    if min_dim < 2 or min_dim > max_dim:
        raise ValueError(f"need 2 <= min_dim <= max_dim, got {min_dim}, {max_dim}")
    if min_eps_exponent < 0 or min_eps_exponent > max_eps_exponent:
        raise ValueError(
            f"need 0 <= min_eps_exponent <= max_eps_exponent, got {min_eps_exponent}, {max_eps_exponent}"
        )
    return st.builds(
        RMSNormCase,
        batch=st.integers(2, max_batch),
        length=st.integers(2, max_length),
        dim=st.integers(min_dim, max_dim),
        eps_exponent=st.integers(min_eps_exponent, max_eps_exponent),
        seed=seeds(),
    )
