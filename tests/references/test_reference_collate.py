"""Contract 24: the collate reference against hand-padded batches and DistributedSampler, the
suite against other correct styles, and hand-written bugs that no mutator writes."""

from __future__ import annotations

import itertools
import math
import types

import pytest
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DistributedSampler

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.collate import SUITE
from pytest_mlbugs.reference_impls import collate as reference


def test_right_and_left_padding_by_hand():
    sequences = [torch.tensor([5, 0, 7]), torch.tensor([0])]  # the pad id 0 is also a real token
    ids, mask, labels = reference.pad_batch(sequences, pad_token_id=0)
    assert ids.tolist() == [[5, 0, 7], [0, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 0, 0]] and mask.dtype == torch.long
    assert labels.tolist() == [[5, 0, 7], [0, -100, -100]]
    ids, mask, labels = reference.pad_batch(sequences, pad_token_id=0, padding_side="left")
    assert ids.tolist() == [[5, 0, 7], [0, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert labels.tolist() == [[5, 0, 7], [-100, -100, 0]]


@pytest.mark.parametrize("n", [1, 2, 5, 8, 13])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
@pytest.mark.parametrize("shuffle", [True, False])
def test_shard_indices_equal_distributed_sampler(n, replicas, shuffle):
    for seed, epoch, rank in itertools.product((0, 41), (0, 1, 5), range(replicas)):
        sampler = DistributedSampler(range(n), num_replicas=replicas, rank=rank, shuffle=shuffle, seed=seed)
        sampler.set_epoch(epoch)
        assert reference.shard_indices(n, seed, epoch, replicas, rank, shuffle) == list(sampler)


# ---------------------------------------------------------------------------------------------
# other correct styles


def _pad_sequence_batch(sequences, pad_token_id, padding_side="right"):
    """torch's pad_sequence for the ids and for a mask of ones; labels with torch.where."""
    ids = pad_sequence(sequences, batch_first=True, padding_value=pad_token_id, padding_side=padding_side)
    ones = [torch.ones_like(s) for s in sequences]
    mask = pad_sequence(ones, batch_first=True, padding_value=0, padding_side=padding_side).long()
    return ids, mask, torch.where(mask.bool(), ids, torch.full_like(ids, -100))


def _sampler_shards(n, seed, epoch, num_replicas=1, rank=0, shuffle=True):
    sampler = DistributedSampler(
        list(range(n)), num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed
    )
    sampler.set_epoch(epoch)
    return list(iter(sampler))


def _loop_batch(sequences, pad_token_id, padding_side="right"):
    """One row at a time: the sequence and a run of padding concatenated, then stacked."""
    width = max(len(s) for s in sequences)
    rows, masks = [], []
    for sequence in sequences:
        padding = sequence.new_full((width - len(sequence),), pad_token_id)
        ones, zeros = torch.ones_like(sequence), torch.zeros_like(padding)
        if padding_side == "left":
            rows.append(torch.cat([padding, sequence]))
            masks.append(torch.cat([zeros, ones]))
        else:
            rows.append(torch.cat([sequence, padding]))
            masks.append(torch.cat([ones, zeros]))
    input_ids, attention_mask = torch.stack(rows), torch.stack(masks)
    labels = input_ids.clone()
    labels[attention_mask == 0] = -100
    return input_ids, attention_mask, labels


def _cycle_shards(n, seed, epoch, num_replicas=1, rank=0, shuffle=True):
    """The permutation from a seeded generator, padded with itertools.cycle, sliced by rank."""
    if shuffle:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch)).tolist()
    else:
        order = list(range(n))
    per_rank = math.ceil(n / num_replicas)
    padded = list(itertools.islice(itertools.cycle(order), per_rank * num_replicas))
    return [padded[rank + i * num_replicas] for i in range(per_rank)]


ALTERNATIVES = {
    "reference": reference,
    "pad_sequence": types.SimpleNamespace(pad_batch=_pad_sequence_batch, shard_indices=_sampler_shards),
    "loops": types.SimpleNamespace(pad_batch=_loop_batch, shard_indices=_cycle_shards),
}


@pytest.mark.parametrize("impl_name", sorted(ALTERNATIVES))
@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_every_correct_style_passes_every_property(impl_name, prop):
    assert check_property(prop, ALTERNATIVES[impl_name], seed=0) is None


# ---------------------------------------------------------------------------------------------
# hand-written bugs


def _bool_mask(sequences, pad_token_id, padding_side="right"):
    ids, mask, labels = reference.pad_batch(sequences, pad_token_id, padding_side)
    return ids, mask.bool(), labels


def _left_reversed(sequences, pad_token_id, padding_side="right"):
    """Left padding by flipping a right-padded batch: the tokens come out reversed."""
    ids, mask, labels = reference.pad_batch(sequences, pad_token_id)
    if padding_side == "left":
        return ids.flip(-1), mask.flip(-1), labels.flip(-1)
    return ids, mask, labels


def _truncated_shards(n, seed, epoch, num_replicas=1, rank=0, shuffle=True):
    """drop_last semantics: the tail is cut instead of padded."""
    order = reference.shard_indices(n, seed, epoch, 1, 0, shuffle)
    usable = (n // num_replicas) * num_replicas
    return order[:usable][rank::num_replicas]


def _contiguous_shards(n, seed, epoch, num_replicas=1, rank=0, shuffle=True):
    """Each rank a contiguous block of the padded permutation instead of every R-th index."""
    order = reference.shard_indices(n, seed, epoch, 1, 0, shuffle)
    per_rank = math.ceil(n / num_replicas)
    padded = (order * num_replicas)[: per_rank * num_replicas]
    return padded[rank * per_rank : (rank + 1) * per_rank]


def _left_by_default(sequences, pad_token_id, padding_side="left"):
    return reference.pad_batch(sequences, pad_token_id, padding_side)


def _second_row_device(sequences, pad_token_id, padding_side="right"):
    """Reads the device from the second sequence, which a batch of one does not have."""
    sequences[1].device  # noqa: B018
    return reference.pad_batch(sequences, pad_token_id, padding_side)


def _unshuffled_by_default(n, seed, epoch, num_replicas=1, rank=0, shuffle=False):
    return reference.shard_indices(n, seed, epoch, num_replicas, rank, shuffle)


def _two_replicas_by_default(n, seed, epoch, num_replicas=2, rank=0, shuffle=True):
    return reference.shard_indices(n, seed, epoch, num_replicas, rank, shuffle)


def _order_repeated_n_times(n, seed, epoch, num_replicas=1, rank=0, shuffle=True):
    """The right indices, through an intermediate list n * total long."""
    order = reference.shard_indices(n, seed, epoch, 1, 0, shuffle)
    total = math.ceil(n / num_replicas) * num_replicas
    return (order * math.ceil(total * n))[:total][rank:total:num_replicas]


@pytest.mark.parametrize(
    "changes, failing",
    [
        ({"pad_batch": _bool_mask}, "attention_mask_is_one_exactly_on_real_tokens"),
        ({"pad_batch": _left_reversed}, "left_padding_puts_the_tokens_last"),
        ({"shard_indices": _truncated_shards}, "shards_are_equal_disjoint_and_cover_the_dataset"),
        ({"shard_indices": _contiguous_shards}, "shard_indices_match_distributed_sampler"),
        ({"pad_batch": _left_by_default}, "input_ids_match_pad_sequence"),
        ({"pad_batch": _left_by_default}, "attention_mask_is_one_exactly_on_real_tokens"),
        ({"pad_batch": _second_row_device}, "a_batch_of_one_sequence_is_that_sequence"),
        ({"shard_indices": _unshuffled_by_default}, "shard_indices_defaults_are_one_shuffled_replica"),
        ({"shard_indices": _two_replicas_by_default}, "shard_indices_defaults_are_one_shuffled_replica"),
        ({"shard_indices": _order_repeated_n_times}, "shard_indices_memory_grows_with_n"),
    ],
    ids=[
        "bool_mask",
        "left_reversed",
        "truncated",
        "contiguous",
        "left_by_default_ids",
        "left_by_default_mask",
        "second_row_device",
        "unshuffled_by_default",
        "two_replicas_by_default",
        "order_repeated_n_times",
    ],
)
def test_hand_written_bugs_are_rejected(changes, failing):
    broken = types.SimpleNamespace(**{**vars(reference), **changes})
    prop = next(p for p in SUITE.properties if p.name == failing)
    assert check_property(prop, broken, seed=0) is not None
