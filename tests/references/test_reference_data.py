"""Contract 11: the reference against closed forms, and the suite against another correct style."""

from __future__ import annotations

import math
import statistics
import types

import pytest
import torch

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.data import SUITE
from pytest_mlbugs.reference_impls import data as reference


def test_split_has_floor_test_rows_and_keeps_every_pair():
    X = torch.arange(20.0).view(10, 2)
    y = torch.arange(10) * 7
    X_train, X_test, y_train, y_test = reference.train_test_split(X, y, 0.35, seed=0)
    assert X_test.shape[0] == math.floor(0.35 * 10)
    rows = torch.cat([X_train, X_test])
    labels = torch.cat([y_train, y_test])
    assert sorted(rows[:, 0].tolist()) == X[:, 0].tolist()
    torch.testing.assert_close(labels, (rows[:, 0] / 2).long() * 7, atol=0, rtol=0)


def test_split_leaves_the_global_rng_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    reference.train_test_split(torch.zeros(8, 1), torch.zeros(8), 0.5, seed=1)
    torch.testing.assert_close(torch.rand(3), expected)


def test_standardization_matches_statistics_pstdev():
    gen = torch.Generator().manual_seed(0)
    X_train = torch.randn(6, 3, generator=gen, dtype=torch.float64) * 3 + 1
    X_train[:, 2] = 4.0
    X_test = torch.randn(2, 3, generator=gen, dtype=torch.float64)
    train_std, test_std = reference.standardize_split(X_train, X_test)
    for column in range(3):
        values = X_train[:, column].tolist()
        mean, spread = statistics.fmean(values), statistics.pstdev(values) or 1.0
        expected_train = torch.tensor([(v - mean) / spread for v in values], dtype=torch.float64)
        expected_test = (X_test[:, column] - mean) / spread
        torch.testing.assert_close(train_std[:, column], expected_train, atol=1e-12, rtol=1e-12)
        torch.testing.assert_close(test_std[:, column], expected_test, atol=1e-12, rtol=1e-12)


def _other_style_split(X, y, test_fraction, seed):
    """Index sets from argsort of seeded uniforms; the test size rounded up."""
    if not 0 <= test_fraction <= 1:
        raise ValueError(f"test_fraction {test_fraction} is not a fraction")
    gen = torch.Generator().manual_seed(seed)
    order = torch.rand(len(X), generator=gen).argsort()
    n_test = math.ceil(test_fraction * len(X))
    test_rows, train_rows = order[:n_test], order[n_test:]
    return X[train_rows], X[test_rows], y[train_rows], y[test_rows]


def _other_style_standardize(X_train, X_test):
    var, mean = torch.var_mean(X_train, dim=0, correction=0)
    std = var.sqrt()
    std[std == 0] = 1.0
    return (X_train - mean) / std, (X_test - mean) / std


OTHER_STYLE = types.SimpleNamespace(
    train_test_split=_other_style_split, standardize_split=_other_style_standardize
)


@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_a_correct_implementation_in_another_style_passes(prop):
    assert check_property(prop, OTHER_STYLE, seed=0) is None


@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_the_reference_passes(prop):
    assert check_property(prop, reference, seed=1) is None


def test_a_split_from_the_global_rng_fails_determinism():
    def unseeded(X, y, test_fraction, seed):
        order = torch.randperm(len(X))
        n_test = math.floor(test_fraction * len(X))
        return X[order[n_test:]], X[order[:n_test]], y[order[n_test:]], y[order[:n_test]]

    broken = types.SimpleNamespace(train_test_split=unseeded, standardize_split=_other_style_standardize)
    prop = next(p for p in SUITE.properties if p.name == "split_is_deterministic_for_a_seed")
    assert check_property(prop, broken, seed=0) is not None


def test_standardizing_in_place_fails():
    def in_place(X_train, X_test):
        mean, std = X_train.mean(0), X_train.std(0, correction=0)
        return X_train.sub_(mean).div_(std), (X_test - mean) / std

    broken = types.SimpleNamespace(train_test_split=_other_style_split, standardize_split=in_place)
    prop = next(p for p in SUITE.properties if p.name == "standardization_uses_training_statistics")
    assert check_property(prop, broken, seed=0) is not None
