"""Contract 21: ``schedule.lr_at``, ``schedule.build_scheduler``, ``schedule.train_with_schedule``.

The oracle is the suite's own closed form of the warmup and the cosine. ``build_scheduler``
is checked on an optimizer whose groups have different peaks; ``train_with_schedule`` runs
under the suite's own ``LambdaLR`` of the closed form, with plain SGD (the learning rate shows
in every step) and a hook that records the rate each optimizer step really used.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR, LRScheduler

from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.strategies.schedule import (
    ScheduleCase,
    closed_form,
    make_batches,
    make_model,
    make_optimizer,
    matches,
    schedule_cases,
    steps_to_check,
)
from pytest_mlbugs.strategies.training import put_stale_gradients
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "schedule",
    names=("lr_at", "build_scheduler", "train_with_schedule"),
    contract="contract 21: lr_at, build_scheduler, train_with_schedule",
)

RICH = ScheduleCase(warmup_steps=3, decay_steps=5, max_lr_hundredths=60, min_lr_percent=10, groups=3, seed=1)
NO_WARMUP = ScheduleCase(
    warmup_steps=0, decay_steps=4, max_lr_hundredths=30, min_lr_percent=30, groups=2, seed=2
)
NO_DECAY = ScheduleCase(
    warmup_steps=2, decay_steps=0, max_lr_hundredths=50, min_lr_percent=10, groups=2, seed=3
)


def order_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "lr_scheduler.step()" in str(w.message)]


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="the loss spikes after the warmup, training never starts, or ends at the wrong rate",
    cases=schedule_cases(),
    explicit=[RICH, NO_WARMUP, NO_DECAY],
    max_examples=8,
)
def lr_at_matches_the_closed_form(impl: Any, case: ScheduleCase) -> None:
    """lr_at differs from the closed form at step 0, at the end of the warmup, in the cosine,
    at total_steps or after it: the warmup is off by one, the cosine runs over the wrong
    number of steps or from the wrong start, or min_lr is ignored (or its default is not 0.0)."""
    given = case.max_lr * case.min_lr_ratio
    for step in steps_to_check(case):
        for min_lr in (given, None):  # None: left to lr_at's default, 0.0
            arguments = (step, case.max_lr, case.warmup_steps, case.total_steps)
            value = impl.lr_at(*arguments) if min_lr is None else impl.lr_at(*arguments, min_lr)
            expected = closed_form(*arguments, 0.0 if min_lr is None else min_lr)
            assert matches(float(value), expected), (
                f"lr_at({step}, max_lr={case.max_lr}, warmup_steps={case.warmup_steps}, "
                f"total_steps={case.total_steps}, min_lr={'default' if min_lr is None else min_lr}) = "
                f"{value}, expected {sorted(expected)}"
            )


def oracle_run(
    case: ScheduleCase, batches: list[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[list[float], dict[str, torch.Tensor]]:
    """Plain SGD, one step per batch at lr_at(i) of each group's peak."""
    model = make_model(case)
    optimizer = make_optimizer(case, model)
    losses = []
    for i, (inputs, targets) in enumerate(batches):
        for g, group in enumerate(optimizer.param_groups):
            peak = case.peak(g)
            group["lr"] = min(
                closed_form(i, peak, case.warmup_steps, case.total_steps, peak * case.min_lr_ratio)
            )
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses, {k: v.detach().clone() for k, v in model.state_dict().items()}


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="every step uses the next step's learning rate: the warmup's first step is skipped",
    cases=schedule_cases(max_groups=2),
    explicit=[RICH, NO_WARMUP],
    max_examples=6,
)
def train_with_schedule_steps_at_the_schedules_rate(impl: Any, case: ScheduleCase) -> None:
    """The learning rate the optimizer used at step i is not the schedule's rate of step i, the
    scheduler stepped before the optimizer (PyTorch warns), or the losses and weights differ
    from zero_grad / backward / optimizer.step() / scheduler.step() per batch (with stale
    gradients on every parameter on entry)."""
    batches = make_batches(case, case.total_steps + 1)
    model = make_model(case)
    optimizer = make_optimizer(case, model)
    peaks = [case.peak(g) for g in range(len(optimizer.param_groups))]

    def factor(step: int) -> float:
        return min(closed_form(step, 1.0, case.warmup_steps, case.total_steps, case.min_lr_ratio))

    scheduler = LambdaLR(optimizer, factor)
    put_stale_gradients(model, case.seed)  # the first step must clear them
    used: list[list[float]] = []
    optimizer.register_step_pre_hook(
        lambda opt, args, kwargs: used.append([g["lr"] for g in opt.param_groups])
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        losses = impl.train_with_schedule(model, batches, optimizer, scheduler, nn.functional.mse_loss)
    assert not order_warnings(caught), f"PyTorch warned: {order_warnings(caught)[0]}"
    expected_used = [[peak * factor(i) for peak in peaks] for i in range(len(batches))]
    assert len(used) == len(batches), f"{len(used)} optimizer steps for {len(batches)} batches"
    for i, (rates, expected) in enumerate(zip(used, expected_used, strict=True)):
        assert all(matches(r, {e}) for r, e in zip(rates, expected, strict=True)), (
            f"optimizer step {i} used learning rates {rates}, the schedule says {expected}"
        )
    expected_losses, expected_state = oracle_run(case, batches)
    assert isinstance(losses, list) and all(type(v) is float for v in losses), (
        f"losses {losses!r} are not floats"
    )
    torch.testing.assert_close(losses, expected_losses, atol=1e-6, rtol=1e-5)
    for name, value in expected_state.items():
        torch.testing.assert_close(model.state_dict()[name], value, atol=1e-6, rtol=1e-5)


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="layers in other parameter groups train at a constant or wrong learning rate",
    cases=schedule_cases(min_groups=2),
    explicit=[RICH, NO_WARMUP, NO_DECAY],
    max_examples=6,
)
def build_scheduler_follows_lr_at_in_every_group(impl: Any, case: ScheduleCase) -> None:
    """After k scheduler steps some parameter group's learning rate is not lr_at(k) of its own
    initial rate: only the first group is scheduled, every group follows the first group's
    peak, or the floor is not a fraction of each group's own peak (or min_lr_ratio's default
    is not 0.0)."""
    for ratio in (case.min_lr_ratio, None):  # None: left to build_scheduler's default, 0.0
        optimizer = make_optimizer(case, make_model(case))
        arguments = (optimizer, case.warmup_steps, case.total_steps)
        scheduler = (
            impl.build_scheduler(*arguments) if ratio is None else impl.build_scheduler(*arguments, ratio)
        )
        assert isinstance(scheduler, LRScheduler), f"build_scheduler returned a {type(scheduler).__name__}"
        for step in range(case.total_steps + 3):
            for g, group in enumerate(optimizer.param_groups):
                peak = case.peak(g)
                floor = 0.0 if ratio is None else peak * ratio
                expected = closed_form(step, peak, case.warmup_steps, case.total_steps, floor)
                assert matches(float(group["lr"]), expected), (
                    f"min_lr_ratio={'default' if ratio is None else ratio}: after {step} scheduler steps "
                    f"group {g} (initial lr {peak}) has lr {group['lr']}, expected {sorted(expected)}"
                )
            optimizer.step()  # no gradients: nothing moves, but the scheduler sees the right order
            scheduler.step()
