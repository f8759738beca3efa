"""Splitting a dataset and standardizing its features without leaking the test rows.

Contract 11 of docs/contracts.md: ``train_test_split(X, y, test_fraction, seed)`` and
``standardize_split(X_train, X_test)``.
"""

from __future__ import annotations

import math

import torch


def train_test_split(
    X: torch.Tensor, y: torch.Tensor, test_fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shuffle the rows with a seeded generator and cut off the test rows.

    Args:
        X: (N, ...) features, one example per row.
        y: (N, ...) targets, row ``i`` belonging to ``X[i]``.
        test_fraction: share of the rows that goes to the test split, in [0, 1].
        seed: the same seed gives the same split; the global RNG is left alone.

    Returns:
        ``(X_train, X_test, y_train, y_test)``: disjoint, together every row exactly once,
        with ``floor(test_fraction * N)`` test rows.
    """
    num_rows = X.shape[0]
    if y.shape[0] != num_rows:
        raise ValueError(f"X has {num_rows} rows but y has {y.shape[0]}")
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"test_fraction must lie in [0, 1], got {test_fraction}")
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(num_rows, generator=generator)
    X, y = X[order], y[order]  # rows and their labels move together
    num_test = math.floor(test_fraction * num_rows)
    return X[num_test:], X[:num_test], y[num_test:], y[:num_test]


def standardize_split(X_train: torch.Tensor, X_test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Scale both splits with the mean and population std of the training rows only.

    A column that is constant in the training rows is only centered (its scale is 1), so
    no division by zero turns it into NaN.

    Args:
        X_train: (N_train, D) training features.
        X_test: (N_test, D) test features.

    Returns:
        ``(X_train_std, X_test_std)``, new tensors; the inputs are not modified.
    """
    mean = X_train.mean(dim=0, keepdim=True)  # (1, D)
    std = X_train.std(dim=0, correction=0, keepdim=True)  # (1, D), population std (ddof 0)
    scale = torch.where(std > 0, std, torch.ones_like(std))
    return (X_train - mean) / scale, (X_test - mean) / scale
