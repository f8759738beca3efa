"""Decoding schedules for KV-cache properties."""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st

from pytest_mlbugs.strategies.tensors import seeds


@dataclasses.dataclass(frozen=True)
class CacheCase:
    batch: int
    #: rows the cache holds beyond ``batch``; 0 makes ``[:B]`` and ``[:]`` look alike
    spare_rows: int
    num_heads: int
    head_dim: int
    #: positions written by each successive update
    chunks: tuple[int, ...]
    #: positions the cache holds beyond the schedule; 0 fills it exactly
    spare_positions: int
    seed: int

    @property
    def max_batch_size(self) -> int:
        return self.batch + self.spare_rows

    @property
    def max_seq_len(self) -> int:
        return sum(self.chunks) + self.spare_positions


def cache_cases(
    *,
    max_batch: int = 3,
    max_spare_rows: int = 2,
    min_heads: int = 2,
    max_heads: int = 3,
    min_head_dim: int = 2,
    max_head_dim: int = 4,
    min_chunks: int = 2,
    max_chunks: int = 4,
    max_chunk: int = 3,
    max_spare_positions: int = 2,
) -> st.SearchStrategy[CacheCase]:
    """Several updates of one or more positions each into a cache with several heads."""
    if min_heads < 1 or min_heads > max_heads:
        raise ValueError(f"need 1 <= min_heads <= max_heads, got {min_heads}, {max_heads}")
    if min_head_dim < 1 or min_head_dim > max_head_dim:
        raise ValueError(f"need 1 <= min_head_dim <= max_head_dim, got {min_head_dim}, {max_head_dim}")
    if min_chunks < 1 or min_chunks > max_chunks:
        raise ValueError(f"need 1 <= min_chunks <= max_chunks, got {min_chunks}, {max_chunks}")
    if max_batch < 1 or max_chunk < 1 or max_spare_rows < 0 or max_spare_positions < 0:
        raise ValueError("max_batch and max_chunk must be positive, the spares non-negative")
    return st.builds(
        CacheCase,
        batch=st.integers(1, max_batch),
        spare_rows=st.integers(0, max_spare_rows),
        num_heads=st.integers(min_heads, max_heads),
        head_dim=st.integers(min_head_dim, max_head_dim),
        chunks=st.lists(st.integers(1, max_chunk), min_size=min_chunks, max_size=max_chunks).map(tuple),
        spare_positions=st.integers(0, max_spare_positions),
        seed=seeds(),
    )
