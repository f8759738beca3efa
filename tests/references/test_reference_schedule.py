"""Contract 21: the schedule reference against hand-computed rates, the suite against other
correct styles (LambdaLR, a closed-form LRScheduler subclass), and hand-written bugs that no
mutator writes."""

from __future__ import annotations

import math
import types

import pytest
import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.schedule import SUITE
from pytest_mlbugs.reference_impls import schedule as reference


@pytest.mark.parametrize(
    "step, expected",
    [
        (0, 0.5),
        (1, 1.0),
        (2, 1.0),
        (3, 0.1 + 0.9 * (1 + math.cos(math.pi / 4)) / 2),
        (4, 0.55),
        (6, 0.1),
        (9, 0.1),
    ],
)
def test_lr_at_matches_hand_computed_rates(step, expected):
    # warmup of 2 steps to 1.0, cosine over the 4 steps after it down to 0.1
    assert reference.lr_at(step, 1.0, 2, 6, 0.1) == pytest.approx(expected, rel=1e-12)


def test_no_warmup_and_no_decay():
    assert reference.lr_at(0, 2.0, 0, 4, 0.0) == pytest.approx(2.0)
    assert [reference.lr_at(s, 1.0, 3, 3, 0.2) for s in range(5)] == pytest.approx(
        [1 / 3, 2 / 3, 1.0, 0.2, 0.2]
    )


def test_each_group_follows_its_own_peak_and_steps_come_before_the_scheduler():
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD([{"params": [model.weight], "lr": 1.0}, {"params": [model.bias], "lr": 0.5}])
    scheduler = reference.build_scheduler(optimizer, 2, 4, min_lr_ratio=0.5)
    seen = []
    optimizer.register_step_pre_hook(lambda opt, a, k: seen.append([g["lr"] for g in opt.param_groups]))
    batches = [(torch.ones(1, 2), torch.zeros(1, 1))] * 5
    reference.train_with_schedule(model, batches, optimizer, scheduler, nn.functional.mse_loss)
    expected = [[reference.lr_at(s, peak, 2, 4, peak / 2) for peak in (1.0, 0.5)] for s in range(5)]
    assert seen == [pytest.approx(rates) for rates in expected]


# ---------------------------------------------------------------------------------------------
# other correct styles


def _lr_at_closed_form(step, max_lr, warmup_steps, total_steps, min_lr=0.0):
    """Hugging Face's shape: a clamped progress (so the step total_steps itself may give the peak
    when there is no decay, as the pinned details allow), the cosine as min + 0.5 * span * (1 + cos)."""
    if step < warmup_steps:
        return (step + 1) * (max_lr / warmup_steps)
    fraction = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(fraction * math.pi))


def _lambda_build_scheduler(optimizer, warmup_steps, total_steps, min_lr_ratio=0.0):
    """LambdaLR of the rate relative to each group's peak (the rate is linear in the peak)."""
    return LambdaLR(
        optimizer, lambda step: _lr_at_closed_form(step, 1.0, warmup_steps, total_steps, min_lr_ratio)
    )


def _loop_train(model, batches, optimizer, scheduler, criterion):
    losses = []
    for inputs, targets in batches:
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
    return losses


class _ClosedFormScheduler(LRScheduler):
    """A subclass that computes every rate from its closed form (also for ``step(epoch)``)."""

    def __init__(self, optimizer, warmup_steps, total_steps, min_lr_ratio=0.0):
        self.schedule = (warmup_steps, total_steps, min_lr_ratio)
        super().__init__(optimizer)

    def _get_closed_form_lr(self):
        warmup, total, ratio = self.schedule
        return [_lr_at_closed_form(self.last_epoch, lr, warmup, total, lr * ratio) for lr in self.base_lrs]

    def get_lr(self):
        return self._get_closed_form_lr()


ALTERNATIVES = {
    "reference": reference,
    "lambda_lr": types.SimpleNamespace(
        lr_at=_lr_at_closed_form, build_scheduler=_lambda_build_scheduler, train_with_schedule=_loop_train
    ),
    "subclass": types.SimpleNamespace(
        lr_at=_lr_at_closed_form, build_scheduler=_ClosedFormScheduler, train_with_schedule=_loop_train
    ),
}


@pytest.mark.parametrize("impl_name", sorted(ALTERNATIVES))
@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_every_correct_style_passes_every_property(impl_name, prop):
    assert check_property(prop, ALTERNATIVES[impl_name], seed=0) is None


# ---------------------------------------------------------------------------------------------
# hand-written bugs


def _warmup_includes_its_end(step, max_lr, warmup_steps, total_steps, min_lr=0.0):
    if step <= warmup_steps and warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    return reference.lr_at(step, max_lr, warmup_steps, total_steps, min_lr)


class _FirstGroupOnly(LRScheduler):
    """Schedules param_groups[0] and hands the other groups their current rate back."""

    def __init__(self, optimizer, warmup_steps, total_steps, min_lr_ratio=0.0):
        self.schedule = (warmup_steps, total_steps, min_lr_ratio)
        super().__init__(optimizer)

    def get_lr(self):
        warmup, total, ratio = self.schedule
        first = reference.lr_at(self.last_epoch, self.base_lrs[0], warmup, total, self.base_lrs[0] * ratio)
        return [first] + [group["lr"] for group in self.optimizer.param_groups[1:]]


def _scheduler_first_in_the_loop(model, batches, optimizer, scheduler, criterion):
    losses = []
    for inputs, targets in batches:
        scheduler.step()
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize(
    "changes, failing",
    [
        ({"lr_at": _warmup_includes_its_end}, "lr_at_matches_the_closed_form"),
        ({"build_scheduler": _FirstGroupOnly}, "build_scheduler_follows_lr_at_in_every_group"),
        (
            {"train_with_schedule": _scheduler_first_in_the_loop},
            "train_with_schedule_steps_at_the_schedules_rate",
        ),
    ],
    ids=["warmup_end_inclusive", "first_group_only", "scheduler_first"],
)
def test_hand_written_bugs_are_rejected(changes, failing):
    broken = types.SimpleNamespace(**{**vars(reference), **changes})
    prop = next(p for p in SUITE.properties if p.name == failing)
    assert check_property(prop, broken, seed=0) is not None
