"""Tensors from a seed: cases carry small integers, properties build the tensors.

Hypothesis draws shapes and a seed rather than tensors, so a counterexample reads as
``AttentionCase(batch=2, ..., seed=7)`` and every tensor is pinned: float32, CPU, strided,
``requires_grad=False``, finite, reproducible from the seed alone. The helpers here always draw
on the CPU; a case's ``make_*`` methods then put the result on the session's device
(:mod:`pytest_mlbugs.devices`), so the numbers are the same on every device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from hypothesis import strategies as st

MAX_SEED = 2**31 - 1


def seeds() -> st.SearchStrategy[int]:
    return st.integers(min_value=0, max_value=MAX_SEED)


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def normal(
    gen: torch.Generator, shape: Sequence[int], *, dtype: torch.dtype = torch.float32, scale: float = 1.0
) -> torch.Tensor:
    """A standard normal tensor (times ``scale``) drawn from ``gen``."""
    return torch.randn(tuple(shape), generator=gen, dtype=torch.float32).mul_(scale).to(dtype)


def bernoulli_mask(gen: torch.Generator, shape: Sequence[int], *, p: float = 0.5) -> torch.Tensor:
    """A boolean mask with each entry True with probability ``p``."""
    return torch.rand(tuple(shape), generator=gen) < p
