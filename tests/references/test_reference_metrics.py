"""The metrics reference against closed forms, and a differently written correct
implementation against every property of the suite."""

from __future__ import annotations

import types

import pytest
import torch

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.metrics import SUITE
from pytest_mlbugs.reference_impls import metrics


def test_accuracy_is_a_python_fraction():
    logits = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    value = metrics.accuracy(logits, torch.tensor([1, 1, 1]))
    assert type(value) is float and value == pytest.approx(2 / 3)


def test_a_probability_at_the_threshold_is_positive():
    assert metrics.binary_accuracy(torch.tensor([0.0]), torch.tensor([1.0])) == 1.0
    assert metrics.binary_accuracy(torch.tensor([0.5]), torch.tensor([0.0]), threshold=0.7) == 1.0


@pytest.mark.parametrize("prefix", [True, False])
def test_masked_mean_is_the_mean_of_the_selected_values(prefix):
    values = torch.arange(24.0).view(2, 3, 4)
    mask = torch.tensor([[True, False, True], [False, False, True]])
    if not prefix:
        mask = mask.unsqueeze(-1).expand(2, 3, 4).clone()
        mask[0, 0, 0] = False
    torch.testing.assert_close(metrics.masked_mean(values, mask), values[mask].mean())


def test_f1_matches_hand_counts():
    # class 0: tp 1, fp 0, fn 1 -> 2/3; class 1: tp 1, fp 1, fn 0 -> 2/3; class 2: tp 0, fp 1, fn 1 -> 0
    # class 3 appears nowhere and is left out of the macro average
    preds, labels = torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 0])
    assert metrics.f1_score(preds, labels, 4, average="macro") == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    assert metrics.f1_score(preds, labels, 4, average="micro") == pytest.approx(2 / 4)
    with pytest.raises(ValueError):
        metrics.f1_score(preds, labels, 4, average="weighted")


def _alternative() -> types.SimpleNamespace:
    """Correct, but written differently: boolean indexing, bincount, a logit-space threshold
    and per-element means for prefix masks."""

    def accuracy(logits, labels):
        return float(torch.mean((torch.max(logits, dim=1).indices == labels).double()))

    def binary_accuracy(logits, labels, threshold=0.5):
        probabilities = 1 / (1 + torch.exp(-logits.double()))
        return float(((probabilities >= threshold).long() == labels.long()).double().mean())

    def masked_mean(values, mask):
        return values[mask].mean(dim=0)  # one mean per trailing element for a prefix mask

    def f1_score(preds, labels, num_classes, average="macro"):
        tp = torch.bincount(preds[preds == labels], minlength=num_classes).double()
        fp = torch.bincount(preds[preds != labels], minlength=num_classes).double()
        fn = torch.bincount(labels[preds != labels], minlength=num_classes).double()
        if average == "micro":
            tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
            return float(2 * tp / (2 * tp + fp + fn))
        present = (tp + fp + fn) > 0
        return float((2 * tp[present] / (2 * tp[present] + fp[present] + fn[present])).mean())

    return types.SimpleNamespace(
        accuracy=accuracy, binary_accuracy=binary_accuracy, masked_mean=masked_mean, f1_score=f1_score
    )


@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_a_differently_written_implementation_passes(prop):
    assert check_property(prop, _alternative(), seed=0) is None


@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_the_reference_passes(prop):
    assert check_property(prop, metrics, seed=1) is None


def test_thresholding_logits_fails():
    broken = _alternative()
    broken.binary_accuracy = lambda logits, labels, threshold=0.5: float(
        ((logits >= threshold).long() == labels.long()).double().mean()
    )
    prop = next(p for p in SUITE.properties if p.name == "binary_accuracy_thresholds_probabilities")
    assert check_property(prop, broken, seed=0) is not None
