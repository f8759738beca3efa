"""Token ids with padding for mask properties."""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import strategies as st

from pytest_mlbugs import devices
from pytest_mlbugs.strategies.tensors import generator, seeds


@dataclasses.dataclass(frozen=True)
class PaddingCase:
    batch: int
    seq_len: int
    vocab_size: int
    #: never 0: token 0 is a real token in these inputs, so "compares with 0" cannot hide
    pad_token_id: int
    seed: int

    def make_input_ids(self) -> torch.Tensor:
        """(B, T) int64 ids with padding at the end of some rows and token 0 among the real
        tokens; the first row keeps a real token at its last position (a padding mask on the
        wrong axis then differs), the last row is padded at its end."""
        gen = generator(self.seed)
        ids = torch.randint(0, self.vocab_size, (self.batch, self.seq_len), generator=gen)
        ids[ids == self.pad_token_id] = 0
        ids[0, 0] = 0
        ids[0, -1] = (self.pad_token_id + 1) % self.vocab_size
        lengths = torch.randint(1, self.seq_len, (self.batch,), generator=gen)
        for row in range(1, self.batch):
            ids[row, int(lengths[row]) :] = self.pad_token_id
        return devices.put(ids)


def padding_cases(
    *,
    min_batch: int = 2,
    max_batch: int = 4,
    min_len: int = 2,
    max_len: int = 7,
    max_vocab: int = 9,
) -> st.SearchStrategy[PaddingCase]:
    """Batches of at least two rows of at least two tokens, with a non-zero pad id."""
    if min_batch < 2 or min_batch > max_batch:
        raise ValueError(f"need 2 <= min_batch <= max_batch, got {min_batch}, {max_batch}")
    if min_len < 2 or min_len > max_len:
        raise ValueError(f"need 2 <= min_len <= max_len, got {min_len}, {max_len}")
    if max_vocab < 3:
        raise ValueError(f"max_vocab must be at least 3, got {max_vocab}")

    @st.composite
    def build(draw: st.DrawFn) -> PaddingCase:
        vocab = draw(st.integers(3, max_vocab))
        return PaddingCase(
            batch=draw(st.integers(min_batch, max_batch)),
            seq_len=draw(st.integers(min_len, max_len)),
            vocab_size=vocab,
            pad_token_id=draw(st.integers(1, vocab - 1)),
            seed=draw(seeds()),
        )

    return build()
