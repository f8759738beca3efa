"""The grad_clip reference against torch.nn.utils.clip_grad_norm_, and an implementation in
another style (one flat vector of all gradient entries; torch's own clip in the loop) that
must pass every property of the suite."""

from __future__ import annotations

import math
import types

import pytest
import torch
from torch import nn

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.grad_clip import SUITE
from pytest_mlbugs.reference_impls import grad_clip


def alternative_clip_gradients(parameters, max_norm, norm_type=2.0):
    if isinstance(parameters, torch.Tensor):  # one tensor, as clip_grad_norm_ accepts it
        parameters = [parameters]
    with_grad = [p for p in parameters if p.grad is not None]
    if not with_grad:
        return 0.0
    flat = torch.cat([p.grad.reshape(-1) for p in with_grad])
    norm = flat.abs().max() if math.isinf(norm_type) else flat.abs().pow(norm_type).sum().pow(1.0 / norm_type)
    scale = min(1.0, max_norm / (norm.item() + 1e-6))
    for p in with_grad:
        p.grad.mul_(scale)
    return norm.item()


def alternative_train(model, dataloader, optimizer, criterion, max_grad_norm=1.0):
    losses = []
    for inputs, targets in dataloader:
        loss = criterion(model(inputs), targets)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=max_grad_norm)
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


ALTERNATIVE = types.SimpleNamespace(
    clip_gradients=alternative_clip_gradients, train_with_gradient_clipping=alternative_train
)


def grads_of(seed: int) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    gen = torch.Generator().manual_seed(seed)
    mine = [nn.Parameter(torch.randn(3, 2, generator=gen)), nn.Parameter(torch.randn(5, generator=gen))]
    for i, p in enumerate(mine):
        p.grad = torch.randn(p.shape, generator=gen) * (i + 1) * 4
    theirs = [nn.Parameter(p.detach().clone()) for p in mine]
    for p, q in zip(mine, theirs, strict=True):
        q.grad = p.grad.clone()
    return mine, theirs


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_gradients_equals_clip_grad_norm_(norm_type, max_norm):
    mine, theirs = grads_of(int(norm_type) if math.isfinite(norm_type) else 7)
    total = grad_clip.clip_gradients(mine, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert isinstance(total, float)
    torch.testing.assert_close(total, expected.item(), atol=1e-6, rtol=1e-6)
    for p, q in zip(mine, theirs, strict=True):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-6, rtol=1e-6)


def test_a_single_tensor_and_no_gradients():
    mine, theirs = grads_of(3)
    total = grad_clip.clip_gradients(mine[0], 0.1)
    torch.testing.assert_close(total, torch.nn.utils.clip_grad_norm_(theirs[0], 0.1).item())
    assert grad_clip.clip_gradients([nn.Parameter(torch.ones(2))], 1.0) == 0.0


@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
@pytest.mark.parametrize("impl", [grad_clip, ALTERNATIVE], ids=["reference", "alternative"])
def test_correct_implementations_pass_every_property(prop, impl):
    assert check_property(prop, impl, seed=0) is None
