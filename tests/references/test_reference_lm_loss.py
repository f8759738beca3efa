"""The language-model loss reference against a closed formula, and the suite against other
correct styles (F.cross_entropy on shifted, flattened logits; logsumexp minus the gathered logit)
and hand-written bugs that no mutator writes."""

from __future__ import annotations

import math
import types

import pytest
import torch
import torch.nn.functional as F

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.lm_loss import SUITE
from pytest_mlbugs.reference_impls import lm_loss as reference


def closed_form(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int) -> float:
    """Token by token: the mean of -log softmax(logits[b, t])[labels[b, t + 1]] over counted targets."""
    total, count = 0.0, 0
    for b in range(logits.shape[0]):
        for t in range(logits.shape[1] - 1):
            target = int(labels[b, t + 1])
            if target == ignore_index:
                continue
            row = logits[b, t].double().tolist()
            total += math.log(sum(math.exp(v) for v in row)) - row[target]
            count += 1
    return total / count


@pytest.mark.parametrize("ignore_index", [-100, -1])
def test_reference_matches_the_closed_form(ignore_index):
    torch.manual_seed(0)
    logits = torch.randn(3, 5, 7)
    labels = torch.randint(0, 7, (3, 5))
    labels[0, 2:] = ignore_index
    labels[2, 4] = ignore_index
    loss = reference.causal_lm_loss(logits, labels, ignore_index=ignore_index)
    assert loss.dtype == torch.float32 and loss.dim() == 0
    assert loss.item() == pytest.approx(closed_form(logits, labels, ignore_index), rel=1e-6)
    bf16 = reference.causal_lm_loss(logits.bfloat16(), labels, ignore_index=ignore_index)
    assert bf16.dtype == torch.float32


def test_labels_from_batch_masks_the_padding_of_a_copy():
    input_ids = torch.tensor([[5, 6, 7], [8, 9, 0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    labels = reference.labels_from_batch(input_ids, mask)
    assert labels.tolist() == [[5, 6, 7], [8, 9, -100]]
    assert input_ids.tolist() == [[5, 6, 7], [8, 9, 0]]


def flat_cross_entropy(logits, labels, ignore_index=-100):
    """A correct implementation in another style: Hugging Face's shift, flatten, F.cross_entropy."""
    shift_logits = logits[..., :-1, :].contiguous()
    shift_labels = labels[..., 1:].contiguous()
    return F.cross_entropy(
        shift_logits.view(-1, shift_logits.size(-1)).float(), shift_labels.view(-1), ignore_index=ignore_index
    )


def where_labels(input_ids, attention_mask, ignore_index=-100):
    return torch.where(attention_mask.bool(), input_ids, torch.full_like(input_ids, ignore_index))


def logsumexp_loss(logits, labels, ignore_index=-100):
    """A correct implementation in another style: logsumexp minus the target logit, summed with
    reduction by the count of counted tokens."""
    scores = logits[:, :-1].to(torch.float32)
    targets = labels[:, 1:]
    keep = targets.ne(ignore_index)
    picked = scores.gather(2, targets.clamp(min=0).unsqueeze(2)).squeeze(2)
    per_token = torch.logsumexp(scores, dim=2) - picked
    return per_token[keep].sum() / keep.sum()


def indexed_labels(input_ids, attention_mask, ignore_index=-100):
    labels = input_ids.new_full(input_ids.shape, ignore_index)
    real = attention_mask != 0
    labels[real] = input_ids[real]
    return labels


ALTERNATIVES = {
    "reference": reference,
    "flat_cross_entropy": types.SimpleNamespace(
        causal_lm_loss=flat_cross_entropy, labels_from_batch=where_labels
    ),
    "logsumexp": types.SimpleNamespace(causal_lm_loss=logsumexp_loss, labels_from_batch=indexed_labels),
}


@pytest.mark.parametrize("impl_name", sorted(ALTERNATIVES))
@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_every_correct_style_passes_every_property(impl_name, prop):
    assert check_property(prop, ALTERNATIVES[impl_name], seed=0) is None


def row_mean_loss(logits, labels, ignore_index=-100):
    """Each row's mean, then the mean over rows."""
    rows = [
        flat_cross_entropy(logits[b : b + 1], labels[b : b + 1], ignore_index) for b in range(len(logits))
    ]
    return torch.stack(rows).mean()


def rolled_loss(logits, labels, ignore_index=-100):
    """Targets shifted with torch.roll: the last position is scored against the first token."""
    targets = torch.roll(labels, shifts=-1, dims=1)
    return F.cross_entropy(logits.transpose(1, 2).float(), targets, ignore_index=ignore_index)


def truncating_labels(input_ids, attention_mask, ignore_index=-100):
    """Keeps the padding of the longest row as real tokens: masks only where every row pads."""
    labels = input_ids.clone()
    labels[:, ~attention_mask.bool().any(0)] = ignore_index
    return labels


@pytest.mark.parametrize(
    "broken",
    [
        types.SimpleNamespace(causal_lm_loss=row_mean_loss, labels_from_batch=where_labels),
        types.SimpleNamespace(causal_lm_loss=rolled_loss, labels_from_batch=where_labels),
        types.SimpleNamespace(causal_lm_loss=flat_cross_entropy, labels_from_batch=truncating_labels),
    ],
    ids=["mean_of_row_means", "rolled_targets", "padding_of_short_rows_kept"],
)
def test_hand_written_bugs_fail_the_suite(broken):
    failures = [check_property(prop, broken, seed=0) for prop in SUITE.properties]
    assert any(f is not None for f in failures), "a broken loss passed every property"
