"""The numerics reference against torch, and a differently written correct implementation
against every property of the suite (a property must accept any correct style)."""

from __future__ import annotations

import types

import pytest
import torch
import torch.nn.functional as F

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.numerics import SUITE
from pytest_mlbugs.reference_impls import numerics


def logits_up_to(scale: float, *, rows: int = 4, classes: int = 5, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand((rows, classes), generator=gen) * 2 - 1) * scale


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
@pytest.mark.parametrize("dim", [-1, 0])
def test_normalizers_match_torch(scale, dim):
    x = logits_up_to(scale)
    torch.testing.assert_close(numerics.softmax(x, dim=dim), torch.softmax(x, dim=dim), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        numerics.log_softmax(x, dim=dim), torch.log_softmax(x, dim=dim), rtol=1e-5, atol=1e-5 * scale
    )
    torch.testing.assert_close(
        numerics.logsumexp(x, dim=dim), torch.logsumexp(x, dim=dim), rtol=1e-5, atol=1e-5 * scale
    )


@pytest.mark.parametrize("ignore_index", [-100, 0, 3])
def test_cross_entropy_matches_torch_with_ignored_targets(ignore_index):
    x = logits_up_to(5.0, rows=6)
    targets = torch.tensor([1, ignore_index, 4, 2, ignore_index, 1])
    torch.testing.assert_close(
        numerics.cross_entropy(x, targets, ignore_index=ignore_index),
        F.cross_entropy(x, targets, ignore_index=ignore_index),
    )


def test_binary_cross_entropy_with_logits_matches_the_closed_form():
    x = torch.tensor([-1e4, -30.0, -1.0, 0.0, 2.0, 1e4])
    y = torch.tensor([0.0, 1.0, 0.3, 1.0, 0.0, 1.0])
    closed_form = (x.clamp(min=0) - x * y + torch.log1p(torch.exp(-x.abs()))).mean()
    torch.testing.assert_close(numerics.binary_cross_entropy_with_logits(x, y), closed_form)
    torch.testing.assert_close(
        numerics.binary_cross_entropy_with_logits(x, y), F.binary_cross_entropy_with_logits(x, y)
    )


def test_losses_return_tensors_that_carry_gradients():
    x = logits_up_to(3.0).requires_grad_(True)
    loss = numerics.cross_entropy(
        x, torch.tensor([0, 1, -100, 3])
    ) + numerics.binary_cross_entropy_with_logits(x, torch.ones_like(x))
    loss.backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())


def _alternative() -> types.SimpleNamespace:
    """Correct, but written differently: float64 internals, nn built-ins, a boolean-index mean,
    softplus for BCE, and every result returned in the input's dtype."""

    def softmax(x, dim=-1):
        return torch.nn.Softmax(dim=dim)(x.double()).to(x.dtype)

    def logsumexp(x, dim=-1):
        return torch.logsumexp(x.double(), dim=dim).to(x.dtype)

    def log_softmax(x, dim=-1):
        return (x.double() - torch.logsumexp(x.double(), dim=dim, keepdim=True)).to(x.dtype)

    def cross_entropy(logits, targets, ignore_index=-100):
        keep = targets != ignore_index
        picked = torch.log_softmax(logits[keep].double(), dim=1).gather(1, targets[keep].unsqueeze(1))
        return (-picked).mean().to(logits.dtype)

    def binary_cross_entropy_with_logits(logits, targets):
        x, y = logits.double(), targets.double()
        return ((1 - y) * x + F.softplus(-x)).mean().to(logits.dtype)

    return types.SimpleNamespace(
        softmax=softmax,
        log_softmax=log_softmax,
        logsumexp=logsumexp,
        cross_entropy=cross_entropy,
        binary_cross_entropy_with_logits=binary_cross_entropy_with_logits,
    )


@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_a_differently_written_implementation_passes(prop):
    assert check_property(prop, _alternative(), seed=0) is None


@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_the_reference_passes(prop):
    assert check_property(prop, numerics, seed=1) is None


def test_a_deliberately_unstable_softmax_fails():
    broken = _alternative()
    broken.softmax = lambda x, dim=-1: x.exp() / x.exp().sum(dim=dim, keepdim=True)
    first = SUITE.properties[0]
    assert check_property(first, broken, seed=0) is not None
