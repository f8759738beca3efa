"""Inputs for layer normalization and eval-mode inference (contract 12)."""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import strategies as st

from pytest_mlbugs import devices
from pytest_mlbugs.strategies.tensors import generator, normal, seeds


@dataclasses.dataclass(frozen=True)
class LayerNormCase:
    batch: int
    length: int
    d_model: int
    #: ``eps = 10 ** -eps_exponent``; a large eps makes its place (inside the sqrt or not) show
    eps_exponent: int
    seed: int

    @property
    def eps(self) -> float:
        return 10.0**-self.eps_exponent

    def make_input(self) -> torch.Tensor:
        """(batch, length, d_model) rows with their own offset and spread; the first row is
        nearly constant, so that the epsilon matters there."""
        gen = generator(self.seed)
        x = normal(gen, (self.batch, self.length, self.d_model))
        x = x * (torch.rand((self.batch, self.length, 1), generator=gen) * 3 + 0.2)
        x = x + normal(gen, (self.batch, self.length, 1), scale=2.0)
        x[0, 0] = x[0, 0] * 1e-3  # centred at 0: no float32 cancellation in x - mean
        return devices.put(x)


def layernorm_cases(
    *, max_batch: int = 3, max_length: int = 4, min_d_model: int = 2, max_d_model: int = 12
) -> st.SearchStrategy[LayerNormCase]:
    """At least two rows along each leading axis (so that normalizing over the wrong one
    shows) and a feature axis of at least 2."""
    if max_batch < 2 or max_length < 2:
        raise ValueError("max_batch and max_length must be at least 2")
    if min_d_model < 2 or min_d_model > max_d_model:
        raise ValueError(f"need 2 <= min_d_model <= max_d_model, got {min_d_model}, {max_d_model}")
    return st.builds(
        LayerNormCase,
        batch=st.integers(2, max_batch),
        length=st.integers(2, max_length),
        d_model=st.integers(min_d_model, max_d_model),
        eps_exponent=st.integers(1, 5),
        seed=seeds(),
    )


@dataclasses.dataclass(frozen=True)
class PredictCase:
    batch: int
    features: int
    seed: int

    def make_input(self) -> torch.Tensor:
        return devices.put(normal(generator(self.seed), (self.batch, self.features), scale=2.0))


def predict_cases(*, max_batch: int = 5, max_features: int = 6) -> st.SearchStrategy[PredictCase]:
    """Batches of at least two rows (batch norm in training mode needs them)."""
    if max_batch < 2 or max_features < 1:
        raise ValueError("max_batch must be at least 2 and max_features at least 1")
    return st.builds(
        PredictCase, batch=st.integers(2, max_batch), features=st.integers(1, max_features), seed=seeds()
    )
