"""Contract 10: ``metrics`` (accuracy, binary_accuracy, masked_mean, f1_score)."""

from __future__ import annotations

import math
from typing import Any

import torch

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.strategies.metrics import (
    BinaryCase,
    ClassificationCase,
    MaskCase,
    binary_cases,
    classification_cases,
    mask_cases,
)
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "metrics",
    names=("accuracy", "binary_accuracy", "masked_mean", "f1_score"),
    contract="contract 10: metrics",
)

#: a class only labelled, one only predicted, one in neither; more rows than classes
SKEWED = ClassificationCase(batch=9, classes=4, spare=1, skewed=True, seed=3)
#: as many rows as classes, where an argmax over the wrong axis still has the right shape
SQUARE = ClassificationCase(batch=5, classes=4, spare=1, skewed=False, seed=4)
BINARY = BinaryCase(shape=(10,), threshold_index=0, seed=1)
PREFIX = MaskCase(batch=2, length=4, features=3, prefix=True, seed=1)
SAME = MaskCase(batch=3, length=5, features=0, prefix=False, seed=2)
TOLERANCE: dict[str, Any] = {"rtol": 1e-6, "atol": 1e-6}
#: generated examples per property in a verdict; the explicit cases catch most bugs
MAX_EXAMPLES = 5


def assert_fraction(value: Any, what: str) -> float:
    assert type(value) is float, f"{what} returned {type(value).__name__}, not a Python float"
    assert 0.0 <= value <= 1.0, f"{what} returned {value}, outside [0, 1]"
    return value


def expected_f1(preds: torch.Tensor, labels: torch.Tensor, num_classes: int, average: str) -> float:
    """F1 = 2 TP / (2 TP + FP + FN), which needs no guard for a present class."""
    if average == "micro":  # every row is one true positive or one FP plus one FN
        correct = int((preds == labels).sum())
        return 2 * correct / (2 * correct + 2 * (len(labels) - correct))
    scores = []
    for c in range(num_classes):
        tp = int(((preds == c) & (labels == c)).sum())
        fp = int(((preds == c) & (labels != c)).sum())
        fn = int(((preds != c) & (labels == c)).sum())
        if tp + fp + fn:
            scores.append(2 * tp / (2 * tp + fp + fn))
    return sum(scores) / len(scores)


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="accuracy sits at chance level, or a shape error in the metric",
    cases=classification_cases(),
    explicit=[SQUARE, SKEWED],
    max_examples=MAX_EXAMPLES,
)
def accuracy_matches_argmax_over_classes(impl: Any, case: ClassificationCase) -> None:
    """accuracy is not the fraction of rows whose argmax over the class axis (the last one)
    equals the label: the argmax ran over the batch axis, or the result is not a fraction."""
    logits, labels = case.logits(), case.labels()
    expected = (logits.argmax(dim=-1) == labels).float().mean().item()
    actual = assert_fraction(impl.accuracy(logits, labels), "accuracy")
    assert math.isclose(actual, expected, abs_tol=1e-6), f"accuracy {actual}, expected {expected}"


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="binary accuracy suspiciously high or low; the decision threshold seems ignored",
    cases=binary_cases(),
    explicit=[BINARY, BinaryCase(shape=(4, 3), threshold_index=2, seed=2)],
    max_examples=MAX_EXAMPLES,
)
def binary_accuracy_thresholds_probabilities(impl: Any, case: BinaryCase) -> None:
    """binary_accuracy does not compare sigmoid(logits) >= threshold with the labels: the
    threshold was applied to the logits, or a probability at the threshold was not positive."""
    logits, labels = case.logits(), case.labels()
    expected = ((torch.sigmoid(logits) >= case.threshold) == labels.bool()).float().mean().item()
    if case.threshold == 0.5:
        actual = impl.binary_accuracy(logits, labels)  # the default threshold
    else:
        actual = impl.binary_accuracy(logits, labels, threshold=case.threshold)
    assert_fraction(actual, "binary_accuracy")
    assert math.isclose(actual, expected, abs_tol=1e-6), f"binary_accuracy {actual}, expected {expected}"


@SUITE.property(
    layer=Layer.EVALUATION, symptom="borderline examples counted wrong; metrics off by one example"
)
def probability_at_the_threshold_counts_as_positive(impl: Any) -> None:
    """A logit of 0 (probability exactly 0.5) with threshold 0.5 was not counted as positive."""
    logits = devices.tensor([0.0, 0.0, -2.0, 2.0])
    assert impl.binary_accuracy(logits, devices.tensor([1.0, 1.0, 0.0, 1.0])) == 1.0
    assert impl.binary_accuracy(logits, devices.tensor([0.0, 0.0, 0.0, 1.0])) == 0.5


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="F1 looks too good (or too bad) next to accuracy; class imbalance is hidden",
    cases=classification_cases(),
    explicit=[SKEWED, SQUARE],
    max_examples=MAX_EXAMPLES,
)
def f1_matches_the_closed_form(impl: Any, case: ClassificationCase) -> None:
    """f1_score differs from 2TP / (2TP + FP + FN): macro and micro swapped, the macro mean
    taken over classes absent from both labels and predictions, or counts off."""
    preds, labels = case.preds(), case.labels()
    for average in ("macro", "micro"):
        actual = assert_fraction(impl.f1_score(preds, labels, case.num_classes, average=average), "f1_score")
        expected = expected_f1(preds, labels, case.num_classes, average)
        assert math.isclose(actual, expected, abs_tol=1e-6), f"{average} F1 {actual}, expected {expected}"
    default = impl.f1_score(preds, labels, case.num_classes)
    assert math.isclose(default, expected_f1(preds, labels, case.num_classes, "macro"), abs_tol=1e-6), (
        f"f1_score without `average` gave {default}, not the macro F1"
    )


def expected_masked_mean(values: torch.Tensor, mask: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The mean over the selected positions; with a prefix mask the contract reads either as
    one scalar or as one mean per trailing element, and both are accepted."""
    selected = values[mask]  # (P,) or (P, *trailing)
    return selected.mean() if shape == () else selected.mean(dim=0)


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="validation loss improves as sequences get longer; padding dilutes the average",
    cases=mask_cases(),
    explicit=[PREFIX, SAME],
    max_examples=MAX_EXAMPLES,
)
def masked_mean_matches_the_mean_of_the_selected_values(impl: Any, case: MaskCase) -> None:
    """masked_mean is not the mean of the values where the mask is True: padded positions
    (holding 1e3 here) entered the sum, or the count was the full length, not the mask's."""
    values, mask = case.values(), case.mask()
    actual = impl.masked_mean(values, mask)
    assert isinstance(actual, torch.Tensor), f"masked_mean returned {type(actual).__name__}, not a tensor"
    trailing = values.shape[mask.ndim :]
    assert actual.shape in (torch.Size([]), trailing), f"masked_mean returned shape {tuple(actual.shape)}"
    torch.testing.assert_close(actual, expected_masked_mean(values, mask, actual.shape), **TOLERANCE)


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="the metric moves when only padding changes",
    cases=mask_cases(),
    explicit=[PREFIX],
    max_examples=MAX_EXAMPLES,
)
def masked_mean_ignores_the_padding(impl: Any, case: MaskCase) -> None:
    """Changing only the padded values changed masked_mean."""
    mask = case.mask()
    small, large = impl.masked_mean(case.values(padding=0.0), mask), impl.masked_mean(case.values(), mask)
    torch.testing.assert_close(large, small, **TOLERANCE)


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="F1 is NaN as soon as a class is never predicted",
    cases=classification_cases(),
    explicit=[SKEWED],
    max_examples=MAX_EXAMPLES,
)
def f1_is_finite_when_a_class_is_never_predicted(impl: Any, case: ClassificationCase) -> None:
    """f1_score is NaN or not a fraction when a class appears only in the labels (precision
    0/0) or only in the predictions (recall 0/0): a zero count was divided by."""
    labels = devices.tensor([0, 0, 1, 1, 2])
    preds = devices.tensor([1, 0, 1, 3, 1])  # class 2 never predicted, class 3 never labelled
    for average in ("macro", "micro"):
        value = assert_fraction(impl.f1_score(preds, labels, 5, average=average), f"{average} f1_score")
        assert math.isfinite(value)
    preds, labels = case.preds(), case.labels()
    assert_fraction(impl.f1_score(preds, labels, case.num_classes, average="macro"), "macro f1_score")


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="the logged metric is a tensor that keeps the graph alive; memory grows every epoch",
    cases=classification_cases(),
    explicit=[SQUARE],
    max_examples=MAX_EXAMPLES,
)
def metrics_are_python_floats_in_the_unit_interval(impl: Any, case: ClassificationCase) -> None:
    """A metric returned a tensor (or another type) instead of a Python float, or a value
    outside [0, 1] (a percentage, a sum instead of a mean)."""
    logits, labels, preds = case.logits(), case.labels(), case.preds()
    assert_fraction(impl.accuracy(logits, labels), "accuracy")
    binary = (labels % 2).float()
    assert_fraction(impl.binary_accuracy(logits[:, 0] - 1.5, binary), "binary_accuracy")
    assert_fraction(impl.f1_score(preds, labels, case.num_classes), "f1_score")


def under_another_default_device(call: Any) -> Any:
    """``call()`` with torch's default device set to ``meta`` while the inputs stay where they
    are: a tensor the metric creates without ``device=`` lands on ``meta``, and mixing it with
    the inputs is the error CUDA gives once the inputs live on a GPU (reported as the failure
    this property looks for, not as a crash)."""
    try:
        with torch.device("meta"):
            return call()
    except RuntimeError as exc:
        if "device" not in str(exc) and "meta" not in str(exc):
            raise
        raise AssertionError(f"a tensor was created off the inputs' device: {exc}") from exc


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="RuntimeError: Expected all tensors to be on the same device, once metrics run on the GPU",
    cases=classification_cases(),
    explicit=[SKEWED],
    max_examples=2,
)
def metrics_follow_the_inputs_device(impl: Any, case: ClassificationCase) -> None:
    """Under another default device a metric failed or changed: it creates a tensor (a range
    of classes, a zero, a count) on the default device instead of the inputs' device."""
    logits, labels, preds = case.logits(), case.labels(), case.preds()
    binary = (labels % 2).float()
    values = logits.clone()
    mask = labels.unsqueeze(-1) == labels[:1]
    calls = {
        "accuracy": lambda: impl.accuracy(logits, labels),
        "binary_accuracy": lambda: impl.binary_accuracy(logits[:, 0], binary),
        "macro f1_score": lambda: impl.f1_score(preds, labels, case.num_classes, average="macro"),
        "micro f1_score": lambda: impl.f1_score(preds, labels, case.num_classes, average="micro"),
        "masked_mean": lambda: impl.masked_mean(values, mask.expand_as(values)),
    }
    for name, call in calls.items():
        expected = call()
        actual = under_another_default_device(call)
        if isinstance(expected, torch.Tensor):
            assert isinstance(actual, torch.Tensor) and actual.device == expected.device, (
                f"{name} returned a tensor on {getattr(actual, 'device', None)}, not on the inputs' device"
            )
        torch.testing.assert_close(
            actual, expected, **TOLERANCE, msg=f"{name} changed under another default device"
        )
