"""Contract 11: ``data.train_test_split`` and ``data.standardize_split``."""

from __future__ import annotations

import math
from typing import Any

import torch

from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.strategies.data import ScaleCase, SplitCase, scale_cases, split_cases
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "data",
    names=("train_test_split", "standardize_split"),
    contract="contract 11: train_test_split, standardize_split",
)

RICH_SPLIT = SplitCase(rows=12, features=3, test_percent=25, seed=3)
RICH_SCALE = ScaleCase(train_rows=5, test_rows=3, features=4, constant_column=2, seed=4)
ATOL = 1e-5
RTOL = 1e-4


def _row_ids(X: torch.Tensor) -> list[int]:
    return [int(v) for v in X[:, 0].tolist()]


@SUITE.property(
    layer=Layer.DATA,
    symptom="test accuracy suspiciously high, or labels that do not match their inputs",
    cases=split_cases(),
    explicit=[
        RICH_SPLIT,
        SplitCase(rows=7, features=2, test_percent=50, seed=8),
        # the boundaries of test_fraction: no test row, every row a test row
        SplitCase(rows=5, features=2, test_percent=0, seed=9),
        SplitCase(rows=5, features=2, test_percent=100, seed=10),
    ],
    max_examples=6,
)
def split_is_a_partition_that_keeps_pairs(impl: Any, case: SplitCase) -> None:
    """The split is not a partition of the rows: a row is in both splits, twice, or nowhere,
    an input lost its label, or the test split has the wrong size (test_fraction 0 and 1
    included)."""
    X, y = case.make_data()
    X_train, X_test, y_train, y_test = impl.train_test_split(
        X.clone(), y.clone(), case.test_fraction, case.seed
    )
    assert X_train.shape[0] == y_train.shape[0], (
        f"{X_train.shape[0]} training rows but {y_train.shape[0]} labels"
    )
    assert X_test.shape[0] == y_test.shape[0], f"{X_test.shape[0]} test rows but {y_test.shape[0]} labels"
    low, high = math.floor(case.test_fraction * case.rows), math.ceil(case.test_fraction * case.rows)
    assert low <= X_test.shape[0] <= high, f"{X_test.shape[0]} test rows, expected between {low} and {high}"
    train_ids, test_ids = _row_ids(X_train), _row_ids(X_test)
    assert not set(train_ids) & set(test_ids), (
        f"rows {sorted(set(train_ids) & set(test_ids))} are in both splits"
    )
    assert sorted(train_ids + test_ids) == list(range(case.rows)), (
        "the splits do not hold every row exactly once"
    )
    for part, labels, ids in ((X_train, y_train, train_ids), (X_test, y_test, test_ids)):
        torch.testing.assert_close(part, X[ids], atol=0.0, rtol=0.0)
        torch.testing.assert_close(labels, y[ids], atol=0, rtol=0, msg="an input lost its own label")


@SUITE.property(
    layer=Layer.DATA,
    symptom="results change between runs with the same seed",
    cases=split_cases(),
    explicit=[RICH_SPLIT],
    max_examples=3,
)
def split_is_deterministic_for_a_seed(impl: Any, case: SplitCase) -> None:
    """Two splits with the same seed differ: the permutation is not drawn from the seed."""
    X, y = case.make_data()
    first = impl.train_test_split(X, y, case.test_fraction, case.seed)
    torch.manual_seed(case.seed + 1)  # a seeded split must not depend on the global RNG
    second = impl.train_test_split(X, y, case.test_fraction, case.seed)
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


@SUITE.property(layer=Layer.DATA, symptom="a typo in the test fraction silently trains on no data")
def invalid_test_fraction_raises_value_error(impl: Any) -> None:
    """A test_fraction outside [0, 1] did not raise ValueError: the split went on with a
    negative or impossible number of test rows."""
    X, y = SplitCase(rows=6, features=2, test_percent=50, seed=11).make_data()
    for fraction in (-0.25, 1.5, 2.0):
        try:
            impl.train_test_split(X, y, fraction, 0)
        except ValueError:
            continue
        raise AssertionError(f"train_test_split with test_fraction={fraction} did not raise ValueError")


def _expected_standardization(
    X_train: torch.Tensor, X_test: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed form in float64: training mean and population std; constant columns centered."""
    train, test = X_train.double(), X_test.double()
    mean = train.sum(0) / train.shape[0]
    std = ((train - mean) ** 2).sum(0).div(train.shape[0]).sqrt()
    std[(train == train[0]).all(0)] = 1.0
    return ((train - mean) / std).float(), ((test - mean) / std).float()


@SUITE.property(
    layer=Layer.DATA,
    symptom="validation accuracy suspiciously high; the model does worse on really new data",
    cases=scale_cases(),
    explicit=[RICH_SCALE],
    max_examples=8,
)
def standardization_uses_training_statistics(impl: Any, case: ScaleCase) -> None:
    """The standardized splits differ from (x - mean) / std with the mean and population
    standard deviation of the training rows alone: the test rows leaked into the statistics,
    the sample std (ddof 1) was used, a constant column was divided by zero, or the inputs
    were modified in place."""
    X_train, X_test = case.make_splits()
    train_copy, test_copy = X_train.clone(), X_test.clone()
    actual_train, actual_test = impl.standardize_split(X_train, X_test)
    torch.testing.assert_close(X_train, train_copy, atol=0.0, rtol=0.0, msg="X_train was modified in place")
    torch.testing.assert_close(X_test, test_copy, atol=0.0, rtol=0.0, msg="X_test was modified in place")
    expected_train, expected_test = _expected_standardization(X_train, X_test)
    torch.testing.assert_close(actual_train, expected_train, atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(actual_test, expected_test, atol=ATOL, rtol=RTOL)


@SUITE.property(
    layer=Layer.DATA,
    symptom="validation accuracy suspiciously high: the scaler has seen the test set",
    cases=scale_cases(),
    explicit=[RICH_SCALE],
    max_examples=5,
)
def test_rows_do_not_change_the_training_data(impl: Any, case: ScaleCase) -> None:
    """Changing only the test rows changed the standardized training rows: statistics were
    computed with the test rows."""
    X_train, X_test = case.make_splits()
    before, _ = impl.standardize_split(X_train.clone(), X_test.clone())
    after, _ = impl.standardize_split(X_train.clone(), X_test * 5 + 7)
    torch.testing.assert_close(after, before, atol=ATOL, rtol=RTOL)
