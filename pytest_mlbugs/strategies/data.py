"""Datasets for the data properties (contract 11): row identities and training statistics."""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import strategies as st

from pytest_mlbugs import devices
from pytest_mlbugs.strategies.tensors import generator, normal, seeds


@dataclasses.dataclass(frozen=True)
class SplitCase:
    rows: int
    features: int
    #: ``test_fraction`` in percent, so the case prints as integers
    test_percent: int
    seed: int

    @property
    def test_fraction(self) -> float:
        return self.test_percent / 100

    def make_data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``X`` whose column 0 is the row number, and distinct labels ``y``: every row and
        every (x, y) pair can be recognised after the split."""
        gen = generator(self.seed)
        X = normal(gen, (self.rows, self.features))
        X[:, 0] = torch.arange(self.rows, dtype=X.dtype)
        y = torch.randperm(self.rows, generator=gen) + 10
        return devices.put(X), devices.put(y)


def split_cases(
    *, min_rows: int = 2, max_rows: int = 24, max_features: int = 4
) -> st.SearchStrategy[SplitCase]:
    """Small datasets split with fractions from 1 to 99 %; several rows, so that a wrong
    slice or a split drawn with replacement shows."""
    if min_rows < 1 or min_rows > max_rows:
        raise ValueError(f"need 1 <= min_rows <= max_rows, got {min_rows}, {max_rows}")
    if max_features < 1:
        raise ValueError(f"max_features must be at least 1, got {max_features}")
    return st.builds(
        SplitCase,
        rows=st.integers(min_rows, max_rows),
        features=st.integers(1, max_features),
        test_percent=st.integers(1, 99),
        seed=seeds(),
    )


@dataclasses.dataclass(frozen=True)
class ScaleCase:
    train_rows: int
    test_rows: int
    features: int
    #: a column constant in the training rows, or -1 for none
    constant_column: int
    seed: int

    def make_splits(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Columns with their own offset and scale; the constant column holds an integer, so
        its mean and (zero) standard deviation are exact in float32."""
        gen = generator(self.seed)
        offset = normal(gen, (1, self.features), scale=3.0)
        scale = torch.rand((1, self.features), generator=gen) * 4 + 0.5
        X_train = normal(gen, (self.train_rows, self.features)) * scale + offset
        X_test = normal(gen, (self.test_rows, self.features)) * scale + offset
        if self.constant_column >= 0:
            X_train[:, self.constant_column] = 3.0
        return devices.put(X_train), devices.put(X_test)


def scale_cases(
    *, max_train_rows: int = 12, max_test_rows: int = 6, max_features: int = 4
) -> st.SearchStrategy[ScaleCase]:
    """Few training rows (the population and the sample std then differ visibly), at least
    two, and sometimes a constant column."""
    if max_train_rows < 2:
        raise ValueError(f"max_train_rows must be at least 2, got {max_train_rows}")
    if max_test_rows < 1 or max_features < 1:
        raise ValueError("max_test_rows and max_features must be at least 1")
    return st.integers(1, max_features).flatmap(
        lambda features: st.builds(
            ScaleCase,
            train_rows=st.integers(2, max_train_rows),
            test_rows=st.integers(1, max_test_rows),
            features=st.just(features),
            constant_column=st.integers(-1, features - 1),
            seed=seeds(),
        )
    )
