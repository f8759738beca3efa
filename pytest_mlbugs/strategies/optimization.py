"""Models and micro-batches for the optimization properties (contract 13)."""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import strategies as st

from pytest_mlbugs import devices
from pytest_mlbugs.strategies.tensors import generator, normal, seeds


@dataclasses.dataclass(frozen=True)
class OptimizerCase:
    width: int
    #: ``lr = lr_permille / 1000`` and ``weight_decay = decay_percent / 100``
    lr_permille: int
    decay_percent: int
    seed: int

    @property
    def lr(self) -> float:
        return self.lr_permille / 1000

    @property
    def weight_decay(self) -> float:
        return self.decay_percent / 100


def optimizer_cases(*, max_width: int = 8) -> st.SearchStrategy[OptimizerCase]:
    """Even widths (group norm splits them in two) and a non-zero weight decay."""
    if max_width < 2:
        raise ValueError(f"max_width must be at least 2, got {max_width}")
    return st.builds(
        OptimizerCase,
        width=st.integers(1, max_width // 2).map(lambda half: 2 * half),
        lr_permille=st.integers(1, 100),
        decay_percent=st.integers(1, 50),
        seed=seeds(),
    )


@dataclasses.dataclass(frozen=True)
class AccumulationCase:
    num_batches: int
    accum_steps: int
    max_batch: int
    features: int
    seed: int

    NUM_CLASSES = 3

    def batch_sizes(self) -> list[int]:
        gen = generator(self.seed)
        return (torch.randint(1, self.max_batch + 1, (self.num_batches,), generator=gen)).tolist()

    def make_batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Micro-batches of float64 inputs and class labels, of the sizes above."""
        gen = generator(self.seed + 1)
        return [
            devices.put_all(
                normal(gen, (size, self.features), dtype=torch.float64),
                torch.randint(0, self.NUM_CLASSES, (size,), generator=gen),
            )
            for size in self.batch_sizes()
        ]


def accumulation_cases(
    *, max_batches: int = 6, max_accum: int = 3, max_batch: int = 4
) -> st.SearchStrategy[AccumulationCase]:
    """Micro-batches of unequal sizes, often with a trailing partial group."""
    if max_batches < 1 or max_accum < 1 or max_batch < 1:
        raise ValueError("max_batches, max_accum and max_batch must be at least 1")
    return st.builds(
        AccumulationCase,
        num_batches=st.integers(1, max_batches),
        accum_steps=st.integers(1, max_accum),
        max_batch=st.integers(1, max_batch),
        features=st.integers(1, 4),
        seed=seeds(),
    )
