"""Contract 22: ``amp.train_step``.

The oracle is one plain float32 SGD step (clipping with ``clip_grad_norm_`` where the case asks)
on a model and batch whose values bfloat16 represents exactly (see
:mod:`pytest_mlbugs.strategies.amp`). The scaler starts at a scale of 1024, so a gradient or a
loss that is still scaled, or scaled twice, is off by a factor of about a thousand; it doubles
its scale after every finite step, so a missing ``update()`` shows after one step.
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any

import torch
from torch import nn

from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.properties.training import prefixed
from pytest_mlbugs.strategies.amp import (
    LR,
    AmpCase,
    amp_cases,
    amp_setup,
    make_batch,
    make_model,
    make_scaler,
)
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "amp",
    names=("train_step",),
    contract="contract 22: train_step",
)

CLIPPED = AmpCase(batch=3, in_features=3, out_features=2, clip_percent=30, seed=1)
PLAIN = AmpCase(batch=2, in_features=2, out_features=3, clip_percent=0, seed=2)
#: bfloat16 keeps 8 significant bits; the values are chosen to need fewer, and a bug is off by 2**10
RTOL = 2e-2
ATOL = 1e-3


def true_norm(model: nn.Module, case: AmpCase) -> float:
    """The total gradient norm of the case's first batch, in float32 without autocast."""
    twin = copy.deepcopy(model)
    inputs, targets = make_batch(case)
    nn.functional.mse_loss(twin(inputs), targets).backward()
    return float(torch.nn.utils.get_total_norm([p.grad for p in twin.parameters() if p.grad is not None]))


def max_grad_norm(model: nn.Module, case: AmpCase) -> float | None:
    return None if not case.clip_percent else true_norm(model, case) * case.clip_percent / 100


def float32_step(model: nn.Module, case: AmpCase, offset: int, clip: float | None) -> float:
    """The oracle: one plain float32 SGD step on batch ``offset``; its loss."""
    inputs, targets = make_batch(case, offset)
    loss = nn.functional.mse_loss(model(inputs), targets)
    loss.backward()
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    with torch.no_grad():
        for parameter in model.parameters():
            assert parameter.grad is not None
            parameter.sub_(LR * parameter.grad)
            parameter.grad = None
    return loss.item()


def amp_step(
    impl: Any,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: Any,
    case: AmpCase,
    offset: int,
    clip: float | None,
    amp_dtype: torch.dtype | None = None,
) -> Any:
    _, default_dtype = amp_setup()
    return impl.train_step(
        model,
        make_batch(case, offset),
        optimizer,
        scaler,
        nn.functional.mse_loss,
        max_grad_norm=clip,
        amp_dtype=amp_dtype or default_dtype,
    )


def assert_no_gradient_left(model: nn.Module, when: str) -> None:
    left = [n for n, p in model.named_parameters() if p.grad is not None and bool(p.grad.ne(0).any())]
    assert not left, f"{when}: gradients left on {left}"


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="mixed-precision training diverges or barely moves while float32 training is fine",
    cases=amp_cases(),
    explicit=[CLIPPED, PLAIN],
    max_examples=8,
)
def two_steps_match_float32_steps(impl: Any, case: AmpCase) -> None:
    """Two train_step calls do not move the weights as two plain float32 SGD steps do (with the
    same clipping), or leave gradients behind: the step uses scaled gradients, unscales them
    twice, bypasses the scaler, or clips the wrong thing."""
    model = make_model(case)
    oracle = copy.deepcopy(model)
    clip = max_grad_norm(model, case)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    scaler = make_scaler()
    for offset in range(2):
        amp_step(impl, model, optimizer, scaler, case, offset, clip)
        float32_step(oracle, case, offset, clip)
        assert_no_gradient_left(model, f"after step {offset + 1}")
        for (name, actual), expected in zip(model.named_parameters(), oracle.parameters(), strict=True):
            torch.testing.assert_close(
                actual.detach(),
                expected.detach(),
                rtol=RTOL,
                atol=ATOL,
                msg=prefixed(f"{name} after step {offset + 1}"),
            )


@SUITE.property(
    layer=Layer.LOSS,
    symptom="the logged loss is about a thousand times too large and jumps whenever the scale changes",
    cases=amp_cases(),
    explicit=[PLAIN],
    max_examples=5,
)
def the_returned_loss_is_the_unscaled_loss(impl: Any, case: AmpCase) -> None:
    """train_step did not return the batch's loss as a Python float in true units: it returned
    the scaled loss, a tensor, or a loss from another point of the step."""
    model = make_model(case)
    oracle = copy.deepcopy(model)
    clip = max_grad_norm(model, case)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    scaler = make_scaler()
    for offset in range(2):
        loss = amp_step(impl, model, optimizer, scaler, case, offset, clip)
        expected = float32_step(oracle, case, offset, clip)
        assert type(loss) is float, f"train_step returned a {type(loss).__name__}, not a float"
        assert math.isclose(loss, expected, rel_tol=RTOL, abs_tol=ATOL), (
            f"step {offset + 1} returned loss {loss}, the float32 loss is {expected}"
        )


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="with AMP, clipping freezes training: the gradients are clipped in scaled units",
    cases=amp_cases(clipping=True),
    explicit=[CLIPPED],
    max_examples=5,
)
def clipping_acts_on_unscaled_gradients(impl: Any, case: AmpCase) -> None:
    """When the optimizer stepped, the total gradient norm was not max_grad_norm in true units:
    the gradients were clipped before scaler.unscale_ (or without it), so the scale, not the
    clipping threshold, decides their size; or the clipping function is deprecated."""
    model = make_model(case)
    clip = max_grad_norm(model, case)
    assert clip is not None
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    seen: list[float] = []

    def record_norm(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        seen.append(float(torch.nn.utils.get_total_norm(grads)))

    optimizer.register_step_pre_hook(record_norm)
    with warnings.catch_warnings():  # a deprecated clipping function is a failure too
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        amp_step(impl, model, optimizer, make_scaler(), case, 0, clip)
    assert len(seen) == 1, f"the optimizer stepped {len(seen)} times"
    assert math.isclose(seen[0], clip, rel_tol=RTOL), (
        f"the optimizer saw a gradient norm of {seen[0]}, max_grad_norm is {clip} "
        f"(the unclipped norm is {clip * 100 / case.clip_percent})"
    )


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="one overflow writes inf or NaN into the weights and training never recovers",
    cases=amp_cases(),
    explicit=[PLAIN, CLIPPED],
    max_examples=5,
)
def a_step_with_an_infinite_gradient_is_skipped(impl: Any, case: AmpCase) -> None:
    """A step whose gradient is infinite changed a parameter, or did not lower the scale: the
    optimizer stepped without scaler.step, or scaler.update() did not run."""
    model = make_model(case)
    before = copy.deepcopy(model.state_dict())
    handle = model.weight.register_hook(lambda grad: torch.full_like(grad, float("inf")))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    scaler = make_scaler()
    amp_step(impl, model, optimizer, scaler, case, 0, max_grad_norm(model, case))
    handle.remove()
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), f"{name} changed in a step with an infinite gradient"
    assert scaler.get_scale() < make_scaler().get_scale(), (
        f"the scale is {scaler.get_scale()} after an overflow"
    )


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="the scale never adapts: float16 gradients underflow, or every step overflows and is skipped",
    cases=amp_cases(),
    explicit=[PLAIN],
    max_examples=4,
)
def the_scale_is_updated_every_step(impl: Any, case: AmpCase) -> None:
    """After finite steps the scale did not grow as scaler.update() makes it grow (the scaler
    here doubles it after every finite step): update() is missing or runs at another time."""
    model = make_model(case)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    scaler = make_scaler()
    start = scaler.get_scale()
    for offset in range(2):
        amp_step(impl, model, optimizer, scaler, case, offset, max_grad_norm(model, case))
        expected = start * 2 ** (offset + 1)
        assert scaler.get_scale() == expected, (
            f"scale {scaler.get_scale()} after {offset + 1} steps, expected {expected}"
        )


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="mixed precision brings no speed-up or memory saving: the model runs in float32",
    cases=amp_cases(clipping=False),
    explicit=[PLAIN],
    max_examples=3,
)
def the_forward_runs_under_autocast(impl: Any, case: AmpCase) -> None:
    """The model's forward pass did not run under autocast in amp_dtype on the model's device
    type: autocast is missing, on another device type, or ignores the amp_dtype argument."""
    for amp_dtype in (torch.bfloat16, torch.float16):  # both autocast on the CPU and on CUDA
        model = make_model(case)
        seen: list[torch.dtype] = []
        model.register_forward_hook(lambda module, args, output, seen=seen: seen.append(output.dtype))
        optimizer = torch.optim.SGD(model.parameters(), lr=LR)
        amp_step(impl, model, optimizer, make_scaler(), case, 0, None, amp_dtype)
        assert seen == [amp_dtype], f"with amp_dtype={amp_dtype} the forward pass produced {seen}"
