"""Shapes for positional-encoding properties."""

from __future__ import annotations

import dataclasses

from hypothesis import strategies as st

from pytest_mlbugs.strategies.tensors import seeds


@dataclasses.dataclass(frozen=True)
class PositionalCase:
    batch: int
    seq_len: int
    #: half of ``d_model``: the contract's table needs an even width to be unambiguous
    half_width: int
    max_len: int
    seed: int

    @property
    def d_model(self) -> int:
        return 2 * self.half_width


def positional_cases(
    *,
    min_batch: int = 2,
    max_batch: int = 3,
    min_half_width: int = 2,
    max_half_width: int = 8,
    max_seq_len: int = 8,
    max_extra_len: int = 8,
) -> st.SearchStrategy[PositionalCase]:
    """Inputs of ``seq_len < max_len`` with batch and sequence lengths that differ: equal ones
    would hide a table sliced by the batch size. Widths are even (at least 4), so that every
    frequency appears in both a sine and a cosine column."""
    if min_batch < 1 or min_batch > max_batch:
        raise ValueError(f"need 1 <= min_batch <= max_batch, got {min_batch}, {max_batch}")
    if min_half_width < 1 or min_half_width > max_half_width:
        raise ValueError(
            f"need 1 <= min_half_width <= max_half_width, got {min_half_width}, {max_half_width}"
        )
    if max_seq_len < max_batch + 1:
        raise ValueError(f"max_seq_len must exceed max_batch, got {max_seq_len} <= {max_batch}")
    if max_extra_len < 1:
        raise ValueError(f"max_extra_len must be at least 1, got {max_extra_len}")

    @st.composite
    def build(draw: st.DrawFn) -> PositionalCase:
        batch = draw(st.integers(min_batch, max_batch))
        seq_len = draw(st.integers(batch + 1, max_seq_len))
        return PositionalCase(
            batch=batch,
            seq_len=seq_len,
            half_width=draw(st.integers(min_half_width, max_half_width)),
            max_len=seq_len + draw(st.integers(1, max_extra_len)),
            seed=draw(seeds()),
        )

    return build()
