"""Positions and head shapes for rotary embeddings (contract 15)."""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import strategies as st

from pytest_mlbugs import devices
from pytest_mlbugs.strategies.tensors import generator, normal, seeds

#: bases drawn besides the default: a base read from the wrong argument shows
BASES = (10000.0, 500.0)


@dataclasses.dataclass(frozen=True)
class RopeCase:
    batch: int
    heads: int
    seq_len: int
    #: half of ``head_dim``: features are rotated in pairs
    half_dim: int
    start_pos: int
    #: positions the table covers beyond ``start_pos + seq_len``; 0 fills it exactly
    spare_positions: int
    base: float
    seed: int

    @property
    def head_dim(self) -> int:
        return 2 * self.half_dim

    @property
    def max_seq_len(self) -> int:
        return self.start_pos + self.seq_len + self.spare_positions

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.batch, self.heads, self.seq_len, self.head_dim)

    def make_input(self, *, dtype: torch.dtype = torch.float32, seed_offset: int = 0) -> torch.Tensor:
        """(batch, heads, seq_len, head_dim), on the session's device."""
        return devices.put(normal(generator(self.seed + seed_offset), self.shape, dtype=dtype))


def rope_cases(
    *,
    max_batch: int = 2,
    max_heads: int = 3,
    min_seq_len: int = 1,
    max_seq_len: int = 5,
    min_half_dim: int = 2,
    max_half_dim: int = 4,
    max_start_pos: int = 12,
    max_spare_positions: int = 3,
    bases: tuple[float, ...] = BASES,
) -> st.SearchStrategy[RopeCase]:
    """Heads of at least two pairs (one pair has a single frequency: a wrong exponent would not
    show) at positions that start anywhere up to ``max_start_pos``."""
    if min_half_dim < 1 or min_half_dim > max_half_dim:
        raise ValueError(f"need 1 <= min_half_dim <= max_half_dim, got {min_half_dim}, {max_half_dim}")
    if min_seq_len < 1 or min_seq_len > max_seq_len:
        raise ValueError(f"need 1 <= min_seq_len <= max_seq_len, got {min_seq_len}, {max_seq_len}")
    if max_batch < 1 or max_heads < 1 or max_start_pos < 0 or max_spare_positions < 0 or not bases:
        raise ValueError("max_batch and max_heads must be positive, the positions non-negative, bases given")
    return st.builds(
        RopeCase,
        batch=st.integers(1, max_batch),
        heads=st.integers(1, max_heads),
        seq_len=st.integers(min_seq_len, max_seq_len),
        half_dim=st.integers(min_half_dim, max_half_dim),
        start_pos=st.integers(0, max_start_pos),
        spare_positions=st.integers(0, max_spare_positions),
        base=st.sampled_from(bases),
        seed=seeds(),
    )
