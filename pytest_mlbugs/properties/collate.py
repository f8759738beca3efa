"""Contract 24: ``collate.pad_batch`` and ``collate.shard_indices``.

The oracles are PyTorch's own: ``torch.nn.utils.rnn.pad_sequence`` for the padded values and
``torch.utils.data.DistributedSampler`` for the shards. The sequences contain the pad id as a
real token, so masking by value instead of by position shows.
"""

from __future__ import annotations

import math
import tracemalloc
from typing import Any, cast

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset, DistributedSampler

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.strategies.collate import PadCase, ShardCase, make_sequences, pad_cases, shard_cases
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "collate",
    names=("pad_batch", "shard_indices"),
    contract="contract 24: pad_batch, shard_indices",
)

RIGHT = PadCase(lengths=(3, 1, 4), vocab=5, pad_token_id=2, padding_side="right", seed=1)
LEFT = PadCase(lengths=(2, 4, 1), vocab=6, pad_token_id=1, padding_side="left", seed=2)
#: the right side by default: an even seed leaves padding_side out
DEFAULT_SIDE = PadCase(lengths=(4, 2), vocab=5, pad_token_id=3, padding_side="right", seed=6)
#: one row, nothing to pad; the right side by default (an even seed)
SINGLE = PadCase(lengths=(3,), vocab=4, pad_token_id=0, padding_side="right", seed=4)
#: fewer items than replicas: the padding wraps around more than once
TINY = ShardCase(n=2, num_replicas=4, seed=3, epoch=1, shuffle=True)
UNEVEN = ShardCase(n=10, num_replicas=3, seed=5, epoch=2, shuffle=True)
UNEVEN_SINGLE = ShardCase(n=10, num_replicas=1, seed=5, epoch=2, shuffle=True)


def real_positions(case: PadCase) -> torch.Tensor:
    """(B, T_max) bool: True where a row has a real token under the case's padding side."""
    width = max(case.lengths)
    columns = torch.arange(width)
    lengths = torch.tensor(case.lengths)[:, None]
    if case.padding_side == "left":
        return columns >= width - lengths
    return columns < lengths


def pad(impl: Any, case: PadCase) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``pad_batch`` on the case; on the right side, half of the cases (by seed) leave
    ``padding_side`` to its default, which contract 24 pins to "right"."""
    sequences = make_sequences(case)
    if case.padding_side == "right" and case.seed % 2 == 0:
        result = impl.pad_batch(sequences, case.pad_token_id)
    else:
        result = impl.pad_batch(sequences, case.pad_token_id, padding_side=case.padding_side)
    assert isinstance(result, tuple) and len(result) == 3, (
        f"pad_batch returned {type(result).__name__}, not 3 tensors"
    )
    shape = (len(case.lengths), max(case.lengths))
    for name, tensor in zip(("input_ids", "attention_mask", "labels"), result, strict=True):
        assert tuple(tensor.shape) == shape, f"{name} has shape {tuple(tensor.shape)}, expected {shape}"
    return result


def sampler_shards(case: ShardCase, epoch: int) -> list[list[int]]:
    shards = []
    for rank in range(case.num_replicas):
        sampler: DistributedSampler[int] = DistributedSampler(
            cast("Dataset[int]", range(case.n)),
            num_replicas=case.num_replicas,
            rank=rank,
            shuffle=case.shuffle,
            seed=case.seed,
        )
        sampler.set_epoch(epoch)
        shards.append(list(sampler))
    return shards


def impl_shards(impl: Any, case: ShardCase, epoch: int) -> list[list[int]]:
    return [
        list(
            impl.shard_indices(
                case.n, case.seed, epoch, num_replicas=case.num_replicas, rank=rank, shuffle=case.shuffle
            )
        )
        for rank in range(case.num_replicas)
    ]


@SUITE.property(
    layer=Layer.DATA,
    symptom="ranks train on overlapping data, or every epoch repeats the same order",
    cases=shard_cases(),
    explicit=[TINY, UNEVEN],
    max_examples=10,
)
def shard_indices_match_distributed_sampler(impl: Any, case: ShardCase) -> None:
    """Some rank's indices differ from DistributedSampler's after set_epoch, in this epoch or
    the next: the order ignores the epoch or the seed, differs between ranks, the shard is cut
    the wrong way, or the padding does not wrap around."""
    for epoch in (case.epoch, case.epoch + 1):
        actual, expected = impl_shards(impl, case, epoch), sampler_shards(case, epoch)
        for rank, (mine, theirs) in enumerate(zip(actual, expected, strict=True)):
            assert mine == theirs, (
                f"epoch {epoch}, rank {rank} of {case.num_replicas}: {mine}, DistributedSampler: {theirs}"
            )


@SUITE.property(
    layer=Layer.DATA,
    symptom="a single-process run reads a fixed order, or skips or repeats examples",
    cases=shard_cases(max_replicas=1),
    explicit=[UNEVEN_SINGLE],
    max_examples=4,
)
def shard_indices_defaults_are_one_shuffled_replica(impl: Any, case: ShardCase) -> None:
    """shard_indices(n, seed, epoch), without num_replicas, rank or shuffle, differs from a
    DistributedSampler of one replica, rank 0, shuffled: a default is not the contract's
    (num_replicas=1, rank=0, shuffle=True)."""
    shuffled = ShardCase(n=case.n, num_replicas=1, seed=case.seed, epoch=case.epoch, shuffle=True)
    (expected,) = sampler_shards(shuffled, case.epoch)
    actual = list(impl.shard_indices(case.n, case.seed, case.epoch))
    assert actual == expected, (
        f"shard_indices({case.n}, {case.seed}, {case.epoch}): {actual}, DistributedSampler: {expected}"
    )


@SUITE.property(
    layer=Layer.DATA,
    symptom="some examples are never seen, others on several ranks; ranks hang at an uneven last batch",
    cases=shard_cases(),
    explicit=[TINY, UNEVEN],
    max_examples=6,
)
def shards_are_equal_disjoint_and_cover_the_dataset(impl: Any, case: ShardCase) -> None:
    """The shards of one epoch are not all ceil(n / num_replicas) long, miss an index, or
    overlap in more than the wrapped-around padding."""
    shards = impl_shards(impl, case, case.epoch)
    length = math.ceil(case.n / case.num_replicas)
    assert [len(s) for s in shards] == [length] * case.num_replicas, (
        f"shard lengths {[len(s) for s in shards]}, expected {length} each"
    )
    every = [i for shard in shards for i in shard]
    # with equal lengths, covering range(n) leaves room for exactly the padding's repeats
    assert set(every) == set(range(case.n)), (
        f"the shards hold {sorted(set(every))}, not every index of range({case.n})"
    )


#: a dataset large enough that memory growing faster than n shows, small enough to stay fast
MEMORY_N = 128
MEMORY_REPLICAS = 3
#: the Python memory that one call may hold at its peak: the shard of 128 indices takes a few kB
MEMORY_LIMIT = 2**20


@SUITE.property(
    layer=Layer.DATA,
    symptom="computing the shards of a large dataset exhausts the host's memory",
    max_examples=1,
)
def shard_indices_memory_grows_with_n(impl: Any) -> None:
    """shard_indices(128, ..., num_replicas=3) held more than 1 MiB of Python memory at its
    peak (tracemalloc, after a first call): the wrap-around padding repeats the order far more
    often than needed (for example n times), which exhausts memory on a real dataset."""
    impl.shard_indices(MEMORY_N, 0, 0, num_replicas=MEMORY_REPLICAS, rank=0)  # lazy imports, caches
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        impl.shard_indices(MEMORY_N, 0, 1, num_replicas=MEMORY_REPLICAS, rank=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if started:
            tracemalloc.stop()
    assert peak - before <= MEMORY_LIMIT, (
        f"shard_indices({MEMORY_N}, ..., num_replicas={MEMORY_REPLICAS}) held {peak - before} bytes at its "
        f"peak, more than {MEMORY_LIMIT}"
    )


@SUITE.property(
    layer=Layer.DATA,
    symptom="the model reads padding as text, or every prompt of a batch is cut or shifted",
    cases=pad_cases(),
    explicit=[RIGHT, LEFT, DEFAULT_SIDE],
    max_examples=6,
)
def input_ids_match_pad_sequence(impl: Any, case: PadCase) -> None:
    """input_ids differ from pad_sequence(batch_first=True, padding_value=pad_token_id,
    padding_side=...): the padding value, the padding side or the token order is wrong."""
    input_ids, _, _ = pad(impl, case)
    expected = pad_sequence(
        [devices.to_cpu(sequence) for sequence in make_sequences(case)],
        batch_first=True,
        padding_value=case.pad_token_id,
        padding_side=case.padding_side,
    )
    assert input_ids.dtype == torch.long, f"input_ids are {input_ids.dtype}"
    assert torch.equal(devices.to_cpu(input_ids), expected), (
        f"input_ids {input_ids.tolist()}, expected {expected.tolist()}"
    )


@SUITE.property(
    layer=Layer.DATA,
    symptom="attention reads the padding and ignores the text; left-padded prompts generate garbage",
    cases=pad_cases(),
    explicit=[RIGHT, LEFT, DEFAULT_SIDE],
    max_examples=6,
)
def attention_mask_is_one_exactly_on_real_tokens(impl: Any, case: PadCase) -> None:
    """The attention mask is not 1 (int64) on every real token and 0 on the padding: it is
    inverted, compares token values with the pad id, or ignores the padding side."""
    _, attention_mask, _ = pad(impl, case)
    expected = real_positions(case).long()
    assert attention_mask.dtype == torch.long, f"attention_mask is {attention_mask.dtype}, not int64"
    assert torch.equal(devices.to_cpu(attention_mask), expected), (
        f"attention_mask {attention_mask.tolist()}, expected {expected.tolist()} for lengths {case.lengths}"
    )


@SUITE.property(
    layer=Layer.TARGET,
    symptom="the loss trains the model to predict padding, or never to end a sequence (eos as pad)",
    cases=pad_cases(),
    explicit=[RIGHT, LEFT, DEFAULT_SIDE],
    max_examples=6,
)
def labels_are_minus_100_exactly_on_the_padding(impl: Any, case: PadCase) -> None:
    """labels are not input_ids with -100 exactly on the padding: the padding is left as a
    target, or real tokens equal to the pad id (an eos used as pad) are masked too."""
    input_ids, _, labels = pad(impl, case)
    real = real_positions(case)
    expected = devices.to_cpu(input_ids).masked_fill(~real, -100)
    assert torch.equal(devices.to_cpu(labels), expected), (
        f"labels {labels.tolist()}, expected {expected.tolist()}"
    )


@SUITE.property(
    layer=Layer.DATA,
    symptom="batched generation continues from padding instead of from each prompt's last token",
    cases=pad_cases(side="left"),
    explicit=[LEFT],
    max_examples=5,
)
def left_padding_puts_the_tokens_last(impl: Any, case: PadCase) -> None:
    """With padding_side="left" a row does not end with its own tokens: the padding side is
    ignored or the tokens are reversed."""
    input_ids, attention_mask, _ = pad(impl, case)
    for row, sequence in enumerate(make_sequences(case)):
        tail = devices.to_cpu(input_ids[row, input_ids.size(1) - len(sequence) :])
        assert torch.equal(tail, devices.to_cpu(sequence)), (
            f"row {row} ends with {tail.tolist()}, not {sequence.tolist()}"
        )
        assert int(attention_mask[row, -1]) == 1, f"row {row}: the last column is masked out"


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="collation fails on the last, one-example batch of an epoch, or on a batch size of 1",
    cases=pad_cases(min_rows=1, max_rows=1),
    explicit=[SINGLE],
    max_examples=3,
)
def a_batch_of_one_sequence_is_that_sequence(impl: Any, case: PadCase) -> None:
    """pad_batch on a single sequence failed, or did not return it unpadded with a mask of
    ones: the batch is read from a second row that a batch of one does not have."""
    (sequence,) = make_sequences(case)
    try:
        input_ids, attention_mask, labels = pad(impl, case)
    except AssertionError:
        raise
    except Exception as exc:
        raise AssertionError(
            f"pad_batch raised {type(exc).__name__} on a batch of one sequence: {exc}"
        ) from exc
    row = devices.to_cpu(sequence)[None]
    assert torch.equal(devices.to_cpu(input_ids), row), (
        f"input_ids {input_ids.tolist()}, expected {row.tolist()}"
    )
    assert torch.equal(devices.to_cpu(attention_mask), torch.ones_like(row)), (
        f"attention_mask {attention_mask.tolist()} on a batch without padding"
    )
    assert torch.equal(devices.to_cpu(labels), row), f"labels {labels.tolist()}, expected {row.tolist()}"


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="collation moves every batch to one hard-coded device",
    cases=pad_cases(),
    explicit=[LEFT],
    max_examples=2,
)
def pad_batch_follows_the_sequences_device(impl: Any, case: PadCase) -> None:
    """On the meta device pad_batch failed or returned a tensor elsewhere: a device is
    hard-coded instead of following the sequences."""
    sequences = [s.to("meta") for s in make_sequences(case)]
    result = impl.pad_batch(sequences, case.pad_token_id, padding_side=case.padding_side)
    places = [t.device.type for t in result]
    assert places == ["meta"] * 3, f"outputs on {places}"
