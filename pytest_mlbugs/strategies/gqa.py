"""Head layouts and decoding schedules for grouped-query attention and the Llama block
(contracts 16 and 17)."""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import strategies as st

from pytest_mlbugs import devices
from pytest_mlbugs.strategies.tensors import generator, normal, seeds


@dataclasses.dataclass(frozen=True)
class GQACase:
    batch: int
    num_kv_heads: int
    #: query heads per key/value head
    group_size: int
    #: half of ``head_dim``: rotary embeddings rotate pairs
    half_dim: int
    #: positions fed by each successive call, the cache of the earlier ones passed along
    chunks: tuple[int, ...]
    seed: int

    @property
    def num_heads(self) -> int:
        return self.num_kv_heads * self.group_size

    @property
    def head_dim(self) -> int:
        return 2 * self.half_dim

    @property
    def d_model(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def seq_len(self) -> int:
        return sum(self.chunks)

    def make_input(self) -> torch.Tensor:
        """(batch, seq_len, d_model), on the session's device."""
        return devices.put(normal(generator(self.seed), (self.batch, self.seq_len, self.d_model)))


def gqa_cases(
    *,
    max_batch: int = 2,
    min_kv_heads: int = 1,
    max_kv_heads: int = 2,
    min_group_size: int = 1,
    max_group_size: int = 3,
    min_half_dim: int = 2,
    max_half_dim: int = 3,
    min_chunks: int = 1,
    max_chunks: int = 3,
    min_first_chunk: int = 1,
    max_chunk: int = 3,
) -> st.SearchStrategy[GQACase]:
    """Key/value heads shared by groups of query heads, heads of at least two rotary pairs,
    and a sequence fed in ``min_chunks``..``max_chunks`` calls of up to ``max_chunk`` positions
    (several new tokens per call, not only one)."""
    if min_kv_heads < 1 or min_kv_heads > max_kv_heads:
        raise ValueError(f"need 1 <= min_kv_heads <= max_kv_heads, got {min_kv_heads}, {max_kv_heads}")
    if min_group_size < 1 or min_group_size > max_group_size:
        raise ValueError(
            f"need 1 <= min_group_size <= max_group_size, got {min_group_size}, {max_group_size}"
        )
    if min_half_dim < 1 or min_half_dim > max_half_dim:
        raise ValueError(f"need 1 <= min_half_dim <= max_half_dim, got {min_half_dim}, {max_half_dim}")
    if min_chunks < 1 or min_chunks > max_chunks:
        raise ValueError(f"need 1 <= min_chunks <= max_chunks, got {min_chunks}, {max_chunks}")
    if min_first_chunk < 1 or min_first_chunk > max_chunk or max_batch < 1:
        raise ValueError(f"need 1 <= min_first_chunk <= max_chunk, got {min_first_chunk}, {max_chunk}")

    @st.composite
    def build(draw: st.DrawFn) -> GQACase:
        first = draw(st.integers(min_first_chunk, max_chunk))
        rest = draw(st.lists(st.integers(1, max_chunk), min_size=min_chunks - 1, max_size=max_chunks - 1))
        return GQACase(
            batch=draw(st.integers(1, max_batch)),
            num_kv_heads=draw(st.integers(min_kv_heads, max_kv_heads)),
            group_size=draw(st.integers(min_group_size, max_group_size)),
            half_dim=draw(st.integers(min_half_dim, max_half_dim)),
            chunks=(first, *rest),
            seed=draw(seeds()),
        )

    return build()


@dataclasses.dataclass(frozen=True)
class BlockCase:
    attention: GQACase
    hidden_dim: int
    #: ``eps = 10 ** -eps_exponent``; a large eps shows whether it reaches the norms
    eps_exponent: int

    @property
    def eps(self) -> float:
        return 10.0**-self.eps_exponent


def block_cases(
    *,
    max_hidden_dim: int = 12,
    min_eps_exponent: int = 1,
    max_eps_exponent: int = 6,
    min_chunks: int = 1,
    max_chunks: int = 2,
) -> st.SearchStrategy[BlockCase]:
    """A Llama block's shapes: an attention case, the feed-forward width and the norms' eps."""
    if max_hidden_dim < 2 or min_eps_exponent < 0 or min_eps_exponent > max_eps_exponent:
        raise ValueError("need max_hidden_dim >= 2 and 0 <= min_eps_exponent <= max_eps_exponent")
    return st.builds(
        BlockCase,
        attention=gqa_cases(min_chunks=min_chunks, max_chunks=max_chunks),
        hidden_dim=st.integers(2, max_hidden_dim),
        eps_exponent=st.integers(min_eps_exponent, max_eps_exponent),
    )
