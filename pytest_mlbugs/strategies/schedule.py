"""Warmup/cosine schedules for the schedule suite (contract 21).

A case carries the schedule's lengths and its rates as small integers; :func:`closed_form` is
the suite's own reading of the contract's formula, and :func:`make_optimizer` gives every
parameter group another peak rate, so that a scheduler that reads or writes one group only
shows at once.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from hypothesis import strategies as st
from torch import nn

from pytest_mlbugs import devices
from pytest_mlbugs.strategies.tensors import generator, normal, seeds


@dataclasses.dataclass(frozen=True)
class ScheduleCase:
    warmup_steps: int
    #: steps of cosine decay after the warmup (0: ``total_steps == warmup_steps``)
    decay_steps: int
    #: the first group's peak rate in hundredths
    max_lr_hundredths: int
    #: the floor as a percentage of each group's peak
    min_lr_percent: int
    #: parameter groups, each with half the previous one's peak
    groups: int
    seed: int

    @property
    def total_steps(self) -> int:
        return self.warmup_steps + self.decay_steps

    @property
    def max_lr(self) -> float:
        return self.max_lr_hundredths / 100

    @property
    def min_lr_ratio(self) -> float:
        return self.min_lr_percent / 100

    def peak(self, group: int) -> float:
        return self.max_lr / 2**group


def schedule_cases(
    *, max_warmup: int = 5, max_decay: int = 8, max_groups: int = 3, min_groups: int = 1
) -> st.SearchStrategy[ScheduleCase]:
    """Schedules with or without a warmup, a decay of zero or more steps, and a floor that is
    zero or a fraction of the peak."""
    if max_warmup < 0 or max_decay < 0 or not 1 <= min_groups <= max_groups:
        raise ValueError(
            "need max_warmup, max_decay >= 0 and 1 <= min_groups <= max_groups, got "
            f"{max_warmup}, {max_decay}, {min_groups}, {max_groups}"
        )
    return st.builds(
        ScheduleCase,
        warmup_steps=st.integers(0, max_warmup),
        decay_steps=st.integers(0, max_decay),
        max_lr_hundredths=st.integers(5, 100),
        min_lr_percent=st.sampled_from((0, 10, 30)),
        groups=st.integers(min_groups, max_groups),
        seed=seeds(),
    ).filter(lambda case: case.total_steps > 0)


def closed_form(step: int, max_lr: float, warmup_steps: int, total_steps: int, min_lr: float) -> set[float]:
    """Contract 21's learning rates at ``step``: a set of one, or of two at ``total_steps`` when
    the schedule has no decay (its pinned details allow ``max_lr`` and ``min_lr`` there)."""
    if step < warmup_steps:
        return {max_lr * (step + 1) / warmup_steps}
    if step == total_steps == warmup_steps:
        return {max_lr, min_lr}
    if step >= total_steps:
        return {min_lr}
    angle = math.pi * (step - warmup_steps) / (total_steps - warmup_steps)
    return {min_lr + (max_lr - min_lr) * 0.5 * (1.0 + math.cos(angle))}


def matches(value: float, expected: set[float]) -> bool:
    return any(math.isclose(value, e, rel_tol=1e-9, abs_tol=1e-12) for e in expected)


def steps_to_check(case: ScheduleCase) -> list[int]:
    """Step 0, both sides of the warmup's end, every decay step, ``total_steps`` and after."""
    return sorted({0, max(case.warmup_steps - 1, 0), *range(case.warmup_steps, case.total_steps + 3)})


def make_optimizer(case: ScheduleCase, model: nn.Module) -> torch.optim.SGD:
    """Plain SGD over ``model``'s parameters split into ``case.groups`` groups, group ``g``
    with peak rate ``case.peak(g)``."""
    parameters = list(model.parameters())
    groups = [
        {"params": parameters[g :: case.groups], "lr": case.peak(g)}
        for g in range(case.groups)
        if parameters[g :: case.groups]
    ]
    return torch.optim.SGD(groups, lr=case.max_lr)


def make_model(case: ScheduleCase) -> nn.Sequential:
    """``Linear(3, 4) -> Tanh -> Linear(4, 2)``: four parameter tensors, up to four groups."""
    torch.manual_seed(case.seed)
    return devices.put(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)))


def make_batches(case: ScheduleCase, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = generator(case.seed + 1)
    return [(devices.put(normal(gen, (3, 3))), devices.put(normal(gen, (3, 2)))) for _ in range(count)]
