"""Linear warmup, then cosine decay to a floor: the learning-rate schedule of most LLM recipes.

Contract 21 of docs/contracts.md: ``lr_at(step, max_lr, warmup_steps, total_steps, min_lr=0.0)``,
``build_scheduler(optimizer, warmup_steps, total_steps, min_lr_ratio=0.0)`` and
``train_with_schedule(model, batches, optimizer, scheduler, criterion)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler


def lr_at(step: int, max_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0) -> float:
    """The learning rate of step ``step`` (counted from 0).

    Returns:
        ``max_lr * (step + 1) / warmup_steps`` during the warmup (so the first step already
        moves the weights and the last warmup step reaches ``max_lr``), then a half cosine from
        ``max_lr`` down to ``min_lr`` over the ``total_steps - warmup_steps`` steps after it,
        and ``min_lr`` from ``total_steps`` on.
    """
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)  # 0 -> 1 over the decay
    return min_lr + (max_lr - min_lr) * (1 + math.cos(math.pi * progress)) / 2


class WarmupCosine(LRScheduler):
    """:func:`lr_at` for every parameter group, each from its own initial learning rate.

    Args:
        optimizer: its groups' learning rates at construction are the peaks (``base_lrs``).
        warmup_steps, total_steps: as for :func:`lr_at`.
        min_lr_ratio: each group's floor as a fraction of its own peak.
    """

    def __init__(
        self, optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0
    ) -> None:
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_lr_ratio = min_lr_ratio
        super().__init__(optimizer)  # sets base_lrs and applies step 0

    def get_lr(self) -> list[float | torch.Tensor]:
        step = self.last_epoch  # the scheduler.step() calls so far: the step about to be taken
        lrs: list[float | torch.Tensor] = []
        for base_lr in self.base_lrs:  # every group from its own peak
            peak = float(base_lr)
            lrs.append(lr_at(step, peak, self.warmup_steps, self.total_steps, peak * self.min_lr_ratio))
        return lrs


def build_scheduler(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, min_lr_ratio: float = 0.0
) -> LRScheduler:
    """A scheduler under which, after ``k`` calls of ``step()``, every group's learning rate
    is ``lr_at(k, its initial lr, warmup_steps, total_steps, its initial lr * min_lr_ratio)``."""
    return WarmupCosine(optimizer, warmup_steps, total_steps, min_lr_ratio)


def train_with_schedule(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    scheduler: LRScheduler,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> list[float]:
    """One optimizer step per batch at the schedule's learning rate.

    Returns:
        one Python float per batch: its loss before the step.
    """
    losses: list[float] = []
    for inputs, targets in batches:
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        # after the optimizer: the step just taken used the learning rate of its own index
        scheduler.step()
        losses.append(loss.item())
    return losses
