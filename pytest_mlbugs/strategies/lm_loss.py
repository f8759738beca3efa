"""Padded batches of logits and labels for the causal language-model loss (contract 18)."""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import strategies as st

from pytest_mlbugs import devices
from pytest_mlbugs.strategies.tensors import generator, normal, seeds

#: ``ignore_index`` values drawn: the default and one a hard-coded -100 would miss
IGNORE_INDICES = (-100, -1)


@dataclasses.dataclass(frozen=True)
class LMLossCase:
    vocab: int
    #: real tokens of each row; the rest of the row, up to the longest, is padding
    lengths: tuple[int, ...]
    ignore_index: int
    #: the padding id in ``input_ids``: a real token id, so padding that is not masked counts
    pad_token_id: int
    seed: int

    @property
    def batch(self) -> int:
        return len(self.lengths)

    @property
    def seq_len(self) -> int:
        return max(self.lengths)

    def make_attention_mask(self) -> torch.Tensor:
        """(B, T) long, 1 on the first ``lengths[b]`` positions of row b, 0 after (CPU)."""
        positions = torch.arange(self.seq_len)
        return (positions < torch.tensor(self.lengths).unsqueeze(1)).long()

    def make_input_ids(self) -> torch.Tensor:
        """(B, T) token ids, ``pad_token_id`` on the padding (CPU)."""
        ids = torch.randint(0, self.vocab, (self.batch, self.seq_len), generator=generator(self.seed))
        return ids.masked_fill(self.make_attention_mask() == 0, self.pad_token_id)

    def make_labels(self) -> torch.Tensor:
        """The input ids with ``ignore_index`` on the padding, on the session's device."""
        labels = self.make_input_ids().masked_fill(self.make_attention_mask() == 0, self.ignore_index)
        return devices.put(labels)

    def make_logits(self, *, dtype: torch.dtype = torch.float32, scale: float = 2.0) -> torch.Tensor:
        """(B, T, V) logits, on the session's device."""
        logits = normal(generator(self.seed + 1), (self.batch, self.seq_len, self.vocab), scale=scale)
        return devices.put(logits.to(dtype))


def lm_loss_cases(
    *,
    min_batch: int = 2,
    max_batch: int = 3,
    min_length: int = 2,
    max_length: int = 6,
    min_vocab: int = 3,
    max_vocab: int = 8,
    ignore_indices: tuple[int, ...] = IGNORE_INDICES,
) -> st.SearchStrategy[LMLossCase]:
    """Rows of different lengths (at least two tokens each, so every row has a target) padded
    to the longest; the padding id is a real token."""
    if min_batch < 2 or min_batch > max_batch:
        raise ValueError(f"need 2 <= min_batch <= max_batch, got {min_batch}, {max_batch}")
    if min_length < 2 or min_length > max_length:
        raise ValueError(f"need 2 <= min_length <= max_length, got {min_length}, {max_length}")
    if min_vocab < 2 or min_vocab > max_vocab or not ignore_indices:
        raise ValueError(f"need 2 <= min_vocab <= max_vocab and ignore indices, got {min_vocab}, {max_vocab}")

    @st.composite
    def build(draw: st.DrawFn) -> LMLossCase:
        vocab = draw(st.integers(min_vocab, max_vocab))
        lengths = draw(st.lists(st.integers(min_length, max_length), min_size=min_batch, max_size=max_batch))
        return LMLossCase(
            vocab=vocab,
            lengths=tuple(lengths),
            ignore_index=draw(st.sampled_from(ignore_indices)),
            pad_token_id=draw(st.integers(0, vocab - 1)),
            seed=draw(seeds()),
        )

    return build()
