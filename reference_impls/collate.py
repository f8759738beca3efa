"""Batching for causal language models: padded batches and per-rank shards of a dataset.

Contract 24 of docs/contracts.md: ``pad_batch(sequences, pad_token_id, padding_side="right")
-> (input_ids, attention_mask, labels)`` and ``shard_indices(n, seed, epoch, num_replicas=1,
rank=0, shuffle=True) -> list[int]``, the indices ``torch.utils.data.DistributedSampler`` yields.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

#: the label that ``F.cross_entropy`` (and contract 18's loss) skips
IGNORE_INDEX = -100


def pad_batch(
    sequences: Sequence[torch.Tensor], pad_token_id: int, padding_side: str = "right"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad 1-D token sequences of different lengths into one batch.

    Args:
        sequences: B LongTensors of shape (T_b,), at least one token each.
        pad_token_id: the id written into the padding; it may also occur as a real token (a
            tokenizer that pads with its eos token), so the padding is told apart by position.
        padding_side: "right" (training) or "left" (batched generation: every prompt then ends
            at the last column, where the next token is predicted).

    Returns:
        ``input_ids`` (B, T_max), ``attention_mask`` (B, T_max) int64 with 1 on real tokens and
        0 on padding, and ``labels`` (B, T_max): ``input_ids`` with -100 on the padding.
    """
    batch = len(sequences)
    max_len = max(len(sequence) for sequence in sequences)
    device = sequences[0].device
    input_ids = torch.full((batch, max_len), pad_token_id, dtype=torch.long, device=device)  # (B, T_max)
    real = torch.zeros((batch, max_len), dtype=torch.bool, device=device)  # (B, T_max): True on real tokens
    for row, sequence in enumerate(sequences):
        length = len(sequence)
        if padding_side == "left":
            columns = slice(max_len - length, max_len)
        else:
            columns = slice(0, length)
        input_ids[row, columns] = sequence
        real[row, columns] = True
    attention_mask = real.long()
    # mask by position, not by `input_ids == pad_token_id`: a real token may equal the pad id
    labels = input_ids.masked_fill(~real, IGNORE_INDEX)
    return input_ids, attention_mask, labels


def shard_indices(
    n: int, seed: int, epoch: int, num_replicas: int = 1, rank: int = 0, shuffle: bool = True
) -> list[int]:
    """The dataset indices that replica ``rank`` of ``num_replicas`` reads in ``epoch``.

    Every rank draws the same permutation (seeded by ``seed + epoch``, so it changes every
    epoch and agrees across ranks), pads it to a multiple of ``num_replicas`` by wrapping
    around to its start, and takes every ``num_replicas``-th index from position ``rank``: the
    shards are disjoint but for the wrapped-around padding, and all of the same length.

    Returns:
        ``ceil(n / num_replicas)`` indices in ``range(n)``.
    """
    if shuffle:
        generator = torch.Generator()
        generator.manual_seed(seed + epoch)
        order = torch.randperm(n, generator=generator).tolist()
    else:
        order = list(range(n))
    total = math.ceil(n / num_replicas) * num_replicas
    # wrap around: repeat the order until it covers `total` positions
    padded = (order * math.ceil(total / n))[:total]
    return padded[rank:total:num_replicas]
