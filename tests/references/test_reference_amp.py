"""Contract 22: the amp reference against a step computed by hand, the suite against other
correct styles, and hand-written bugs that no mutator writes."""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.amp import SUITE
from pytest_mlbugs.reference_impls import amp as reference


def _model() -> nn.Linear:
    model = nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.5, -0.25]]))
        model.bias.copy_(torch.tensor([0.25]))
    return model


def test_one_step_matches_the_hand_computed_sgd_step():
    # y = 0.5 - 0.5 + 0.25 = 0.25, loss = (0.25 - 0.5)^2 = 0.0625, dloss/dy = -0.5
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.125)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0, growth_interval=1)
    batch = (torch.tensor([[1.0, 2.0]]), torch.tensor([[0.5]]))
    loss = reference.train_step(model, batch, optimizer, scaler, nn.functional.mse_loss)
    assert loss == 0.0625
    assert model.weight.tolist() == [[0.5625, -0.125]] and model.bias.tolist() == [0.3125]
    assert scaler.get_scale() == 2048.0 and model.weight.grad is None


def test_clipping_is_in_true_units_and_an_overflow_is_skipped():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    batch = (torch.tensor([[1.0, 2.0]]), torch.tensor([[0.5]]))
    before = model.weight.detach().clone()
    reference.train_step(model, batch, optimizer, scaler, nn.functional.mse_loss, max_grad_norm=0.25)
    # the true gradient (-0.5, -1.0, -0.5) has norm 1.22; clipped to 0.25 in true units
    step = torch.cat([(model.weight - before).flatten(), (model.bias - 0.25).flatten()])
    assert step.norm().item() == pytest.approx(0.25, rel=1e-2)
    hook = model.bias.register_hook(lambda g: g * float("inf"))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    reference.train_step(model, batch, optimizer, scaler, nn.functional.mse_loss)
    hook.remove()
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert scaler.get_scale() == 512.0


# ---------------------------------------------------------------------------------------------
# other correct styles


def _accelerate_style(
    model, batch, optimizer, scaler, criterion, max_grad_norm=None, amp_dtype=torch.bfloat16
):
    """Device type from the inputs, torch.amp.autocast, the loss outside the autocast region,
    zero_grad(set_to_none=False), float() of the loss."""
    inputs, targets = batch
    with torch.amp.autocast(inputs.device.type, dtype=amp_dtype):
        outputs = model(inputs)
    loss = criterion(outputs.float(), targets)
    scaler.scale(loss).backward()
    if max_grad_norm is not None:
        scaler.unscale_(optimizer)
        params = [p for group in optimizer.param_groups for p in group["params"]]
        torch.nn.utils.clip_grad_norm_(params, max_norm=max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=False)
    return float(loss.detach())


def _lightning_style(
    model, batch, optimizer, scaler, criterion, max_grad_norm=None, amp_dtype=torch.bfloat16
):
    """Gradients cleared before and after, the scaled loss in a local, only parameters that
    have a gradient clipped, the loss detached before item()."""
    optimizer.zero_grad()
    device_type = next(model.parameters()).device.type
    with torch.autocast(device_type=device_type, dtype=amp_dtype):
        loss = criterion(model(batch[0]), batch[1])
    scaled = scaler.scale(loss)
    scaled.backward()
    if max_grad_norm:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.grad is not None], max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad()
    return loss.detach().item()


ALTERNATIVES = {
    "reference": reference,
    "accelerate": types.SimpleNamespace(train_step=_accelerate_style),
    "lightning": types.SimpleNamespace(train_step=_lightning_style),
}


@pytest.mark.parametrize("impl_name", sorted(ALTERNATIVES))
@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_every_correct_style_passes_every_property(impl_name, prop):
    assert check_property(prop, ALTERNATIVES[impl_name], seed=0) is None


# ---------------------------------------------------------------------------------------------
# hand-written bugs


def _clips_values(model, batch, optimizer, scaler, criterion, max_grad_norm=None, amp_dtype=torch.bfloat16):
    """clip_grad_value_ where the contract clips the total norm."""
    with torch.autocast(next(model.parameters()).device.type, dtype=amp_dtype):
        loss = criterion(model(batch[0]), batch[1])
    scaler.scale(loss).backward()
    if max_grad_norm is not None:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_value_(model.parameters(), max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad()
    return loss.item()


def _bfloat16_always(
    model, batch, optimizer, scaler, criterion, max_grad_norm=None, amp_dtype=torch.bfloat16
):
    """The autocast dtype hard-coded to bfloat16."""
    return reference.train_step(model, batch, optimizer, scaler, criterion, max_grad_norm, torch.bfloat16)


def _manual_skip(model, batch, optimizer, scaler, criterion, max_grad_norm=None, amp_dtype=torch.bfloat16):
    """Unscales, checks the gradients by hand and steps the optimizer itself: the scale never moves."""
    with torch.autocast(next(model.parameters()).device.type, dtype=amp_dtype):
        loss = criterion(model(batch[0]), batch[1])
    scaler.scale(loss).backward()
    scale = scaler.get_scale()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if all(bool(g.isfinite().all()) for g in grads):
        for g in grads:
            g.div_(scale)
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
    optimizer.zero_grad()
    return loss.item()


def _loss_from_the_new_scale(
    model, batch, optimizer, scaler, criterion, max_grad_norm=None, amp_dtype=torch.bfloat16
):
    """Unscales the reported loss with the scale after update(), which has already grown."""
    with torch.autocast(next(model.parameters()).device.type, dtype=amp_dtype):
        loss = criterion(model(batch[0]), batch[1])
    scaled = scaler.scale(loss)
    scaled.backward()
    if max_grad_norm is not None:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad()
    return scaled.item() / scaler.get_scale()


@pytest.mark.parametrize(
    "train_step, failing",
    [
        (_clips_values, "clipping_acts_on_unscaled_gradients"),
        (_bfloat16_always, "the_forward_runs_under_autocast"),
        (_manual_skip, "the_scale_is_updated_every_step"),
        (_loss_from_the_new_scale, "the_returned_loss_is_the_unscaled_loss"),
    ],
    ids=["clip_values", "bfloat16_always", "manual_skip", "loss_from_new_scale"],
)
def test_hand_written_bugs_are_rejected(train_step, failing):
    prop = next(p for p in SUITE.properties if p.name == failing)
    assert check_property(prop, types.SimpleNamespace(train_step=train_step), seed=0) is not None
