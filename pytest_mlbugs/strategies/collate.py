"""Token sequences and dataset shards for the collate suite (contract 24).

Sequences of different lengths (at least two rows by default, so that one is padded; a batch
of one row is asked for on its own) whose tokens include the pad id itself, as a tokenizer that
pads with its eos token produces them: padding must be told apart by position, never by value.
Shard cases cover datasets smaller than, equal to and larger than the number of replicas, so
that the wrap-around padding is exercised.
"""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import strategies as st

from pytest_mlbugs import devices
from pytest_mlbugs.strategies.tensors import generator, seeds


@dataclasses.dataclass(frozen=True)
class PadCase:
    lengths: tuple[int, ...]
    vocab: int
    pad_token_id: int
    #: "right" or "left"
    padding_side: str
    seed: int


def pad_cases(
    *, min_rows: int = 2, max_rows: int = 4, max_length: int = 6, side: str | None = None
) -> st.SearchStrategy[PadCase]:
    """Batches of ``min_rows``.. rows, one of them shorter than the longest (but in a batch of
    one row, which is not padded at all); ``side`` fixes the padding side (both are drawn by
    default)."""
    if not 1 <= min_rows <= max_rows or max_length < 2:
        raise ValueError(
            f"need 1 <= min_rows <= max_rows and max_length >= 2, got {min_rows}, {max_rows}, {max_length}"
        )
    if side not in (None, "left", "right"):
        raise ValueError(f"side must be None, 'left' or 'right', got {side!r}")

    @st.composite
    def draw(draw_: st.DrawFn) -> PadCase:
        rows = draw_(st.integers(min_rows, max_rows))
        lengths = draw_(st.lists(st.integers(1, max_length), min_size=rows, max_size=rows))
        if rows > 1 and len(set(lengths)) == 1:  # every row full: nothing would be padded
            lengths[0] = lengths[0] - 1 if lengths[0] > 1 else lengths[0] + 1
        vocab = draw_(st.integers(3, 9))
        return PadCase(
            lengths=tuple(lengths),
            vocab=vocab,
            pad_token_id=draw_(st.integers(0, vocab - 1)),
            padding_side=side or draw_(st.sampled_from(("right", "left"))),
            seed=draw_(seeds()),
        )

    return draw()


def make_sequences(case: PadCase) -> list[torch.Tensor]:
    """One int64 sequence per length; the longest one's first token is the pad id."""
    gen = generator(case.seed)
    sequences = [torch.randint(0, case.vocab, (length,), generator=gen) for length in case.lengths]
    longest = max(range(len(sequences)), key=lambda i: case.lengths[i])
    sequences[longest][0] = case.pad_token_id  # a real token equal to the pad id
    return [devices.put(sequence) for sequence in sequences]


@dataclasses.dataclass(frozen=True)
class ShardCase:
    n: int
    num_replicas: int
    seed: int
    epoch: int
    shuffle: bool


def shard_cases(
    *, max_n: int = 12, max_replicas: int = 4, max_epoch: int = 3
) -> st.SearchStrategy[ShardCase]:
    """Datasets of 1..``max_n`` items over 1..``max_replicas`` replicas."""
    if max_n < 1 or max_replicas < 1 or max_epoch < 0:
        raise ValueError(
            f"need max_n, max_replicas >= 1 and max_epoch >= 0, got {max_n}, {max_replicas}, {max_epoch}"
        )
    return st.builds(
        ShardCase,
        n=st.integers(1, max_n),
        num_replicas=st.integers(1, max_replicas),
        seed=st.integers(0, 2**16),
        epoch=st.integers(0, max_epoch),
        shuffle=st.sampled_from((True, True, False)),
    )
