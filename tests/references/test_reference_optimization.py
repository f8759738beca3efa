"""Contract 13: the reference against closed forms, and the suite against another style."""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.optimization import SUITE
from pytest_mlbugs.reference_impls import optimization as reference
from pytest_mlbugs.reference_impls.normalization import LayerNorm


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(3, 3)
        self.ln_f = LayerNorm(3)  # contract 12's LayerNorm, no "norm" in the attribute name
        self.head = nn.Linear(3, 2, bias=False)
        self.frozen = nn.Linear(3, 3).requires_grad_(False)


def test_build_optimizer_groups_by_name():
    model = _Net()
    optimizer = reference.build_optimizer(model, lr=0.01, weight_decay=0.2)
    names = {id(p): n for n, p in model.named_parameters()}
    decay, no_decay = ({names[id(p)] for p in g["params"]} for g in optimizer.param_groups)
    assert decay == {"body.weight", "head.weight"}
    assert no_decay == {"body.bias", "ln_f.weight", "ln_f.bias"}
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.2, 0.0]


def test_a_tied_parameter_is_listed_once():
    model = nn.Sequential(nn.Embedding(4, 3), nn.Linear(3, 4, bias=False))
    model[1].weight = model[0].weight
    optimizer = reference.build_optimizer(model, lr=0.01, weight_decay=0.1)
    assert sum(len(g["params"]) for g in optimizer.param_groups) == 1


def test_one_accumulated_step_matches_the_mse_gradient_in_closed_form():
    """Linear regression without bias: grad of mean((Xw - y)^2) is 2 X^T (Xw - y) / N."""
    gen = torch.Generator().manual_seed(0)
    model = nn.Linear(3, 1, bias=False).double()
    w0 = model.weight.detach().clone()
    batches = [
        (
            torch.randn(n, 3, generator=gen, dtype=torch.float64),
            torch.randn(n, 1, generator=gen, dtype=torch.float64),
        )
        for n in (2, 5, 1)
    ]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    losses = reference.train_with_accumulation(model, batches, optimizer, nn.MSELoss(), accum_steps=3)
    X = torch.cat([x for x, _ in batches])
    y = torch.cat([t for _, t in batches])
    grad = 2 * (X @ w0.T - y).T @ X / len(X)
    torch.testing.assert_close(model.weight.detach(), w0 - 0.1 * grad, atol=1e-12, rtol=1e-12)
    assert len(losses) == 3 and all(type(v) is float for v in losses)
    expected_first = torch.mean((batches[0][0] @ w0.T - batches[0][1]) ** 2).item()
    assert losses[0] == pytest.approx(expected_first, rel=1e-12)


def _other_style_build_optimizer(model, lr, weight_decay):
    """No-decay group first; norm modules recognised by class name only; names via named_modules."""
    no_decay, decay, seen = [], [], set()
    for _, module in model.named_modules():
        is_norm = "Norm" in type(module).__name__
        for name, param in module.named_parameters(recurse=False):
            if param.requires_grad and param not in seen:
                seen.add(param)
                (no_decay if is_norm or name == "bias" else decay).append(param)
    return torch.optim.AdamW(
        [{"params": no_decay, "weight_decay": 0.0}, {"params": decay}], lr=lr, weight_decay=weight_decay
    )


def _other_style_train_with_accumulation(model, batches, optimizer, criterion, accum_steps):
    """Sums size-weighted losses, divides the gradients by the group size before the step."""
    batches = list(batches)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    losses = []
    for start in range(0, len(batches), accum_steps):
        optimizer.zero_grad(set_to_none=False)
        total = 0
        for inputs, targets in batches[start : start + accum_steps]:
            loss = criterion(model(inputs), targets)
            (loss * targets.shape[0]).backward()
            total += targets.shape[0]
            losses.append(float(loss.detach()))
        for p in params:
            if p.grad is not None:
                p.grad.div_(total)
        optimizer.step()
    return losses


OTHER_STYLE = types.SimpleNamespace(
    build_optimizer=_other_style_build_optimizer, train_with_accumulation=_other_style_train_with_accumulation
)


@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_a_correct_implementation_in_another_style_passes(prop):
    assert check_property(prop, OTHER_STYLE, seed=0) is None


@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_the_reference_passes(prop):
    assert check_property(prop, reference, seed=1) is None


def test_dividing_by_the_number_of_micro_batches_fails_on_unequal_sizes():
    def equal_weights(model, batches, optimizer, criterion, accum_steps):
        batches, losses = list(batches), []
        for start in range(0, len(batches), accum_steps):
            optimizer.zero_grad()
            group = batches[start : start + accum_steps]
            for inputs, targets in group:
                loss = criterion(model(inputs), targets)
                (loss / len(group)).backward()
                losses.append(loss.item())
            optimizer.step()
        return losses

    broken = types.SimpleNamespace(
        build_optimizer=reference.build_optimizer, train_with_accumulation=equal_weights
    )
    prop = next(p for p in SUITE.properties if p.name == "accumulation_equals_the_big_batch_step")
    assert check_property(prop, broken, seed=0) is not None


def test_norm_detection_by_attribute_name_fails():
    def by_name(model, lr, weight_decay):
        decay = [
            p
            for n, p in model.named_parameters()
            if p.requires_grad and "norm" not in n and not n.endswith("bias")
        ]
        rest = [
            p for n, p in model.named_parameters() if p.requires_grad and ("norm" in n or n.endswith("bias"))
        ]
        return torch.optim.AdamW(
            [{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}], lr=lr
        )

    broken = types.SimpleNamespace(
        build_optimizer=by_name, train_with_accumulation=reference.train_with_accumulation
    )
    prop = next(p for p in SUITE.properties if p.name == "build_optimizer_sorts_parameters_into_two_groups")
    assert check_property(prop, broken, seed=0) is not None
