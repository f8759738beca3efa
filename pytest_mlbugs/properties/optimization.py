"""Contract 13: ``optimization.build_optimizer`` and ``optimization.train_with_accumulation``."""

from __future__ import annotations

import copy
import math
from collections import Counter
from typing import Any

import torch
from torch import nn

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.reference_impls.normalization import LayerNorm as ContractLayerNorm
from pytest_mlbugs.strategies.optimization import (
    AccumulationCase,
    OptimizerCase,
    accumulation_cases,
    optimizer_cases,
)
from pytest_mlbugs.strategies.tensors import generator, normal
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "optimization",
    names=("build_optimizer", "train_with_accumulation"),
    contract="contract 13: build_optimizer, train_with_accumulation",
)

RICH_OPTIMIZER = OptimizerCase(width=4, lr_permille=10, decay_percent=10, seed=1)
#: sizes 3, 1 | 2, 4 | 1: unequal micro-batches and a trailing partial group
RICH_ACCUMULATION = AccumulationCase(num_batches=5, accum_steps=2, max_batch=4, features=3, seed=3)
SGD_LR = 0.5


class _Model(nn.Module):
    """Every kind of parameter build_optimizer must sort. The norm modules have attribute
    names without "norm" in them; ``final`` is contract 12's LayerNorm. ``head`` shares the
    embedding's weight and ``tied`` the projection's (each tied weight comes before a parameter
    of its own module), and ``partly`` has a frozen weight but a trainable bias."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(5, width)
        self.proj = nn.Linear(width, width)
        self.ln_in = nn.LayerNorm(width)
        self.bn = nn.BatchNorm1d(width)
        self.grouped = nn.GroupNorm(2, width)
        self.scale = nn.RMSNorm(width) if hasattr(nn, "RMSNorm") else nn.LayerNorm(width, bias=False)
        self.final = ContractLayerNorm(width)
        self.head = nn.Linear(width, 5, bias=False)
        self.head.weight = self.embed.weight
        self.tied = nn.Linear(width, width)
        self.tied.weight = self.proj.weight
        self.partly = nn.Linear(width, width)
        self.partly.weight.requires_grad_(False)
        self.frozen = nn.Linear(width, width).requires_grad_(False)


def _expected_groups(model: _Model) -> tuple[set[int], set[int]]:
    decay = {id(model.embed.weight), id(model.proj.weight)}
    no_decay = {id(model.proj.bias), id(model.tied.bias), id(model.partly.bias)}
    for norm in (model.ln_in, model.bn, model.grouped, model.scale, model.final):
        no_decay |= {id(p) for p in norm.parameters()}
    return decay, no_decay


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="validation loss worse than expected; norm gains and biases shrink towards zero",
    cases=optimizer_cases(),
    explicit=[RICH_OPTIMIZER],
    max_examples=3,
)
def build_optimizer_sorts_parameters_into_two_groups(impl: Any, case: OptimizerCase) -> None:
    """The optimizer is not AdamW with one decayed group and one group without decay for
    biases and normalization parameters, or a trainable parameter is missing or listed
    twice, or a frozen one is included."""
    torch.manual_seed(case.seed)
    model = devices.put(_Model(case.width))
    optimizer = impl.build_optimizer(model, case.lr, case.weight_decay)
    assert isinstance(optimizer, torch.optim.AdamW), f"got {type(optimizer).__name__}, not AdamW"
    groups = optimizer.param_groups
    assert len(groups) == 2, f"{len(groups)} parameter groups, expected 2 (decay, no decay)"
    names = {id(p): name for name, p in model.named_parameters()}
    listed = Counter(id(p) for group in groups for p in group["params"])
    twice = [names.get(key, "?") for key, count in listed.items() if count > 1]
    assert not twice, f"listed more than once: {twice}"
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad and id(p) in listed]
    assert not frozen, f"frozen parameters in the optimizer: {frozen}"
    missing = [name for name, p in model.named_parameters() if p.requires_grad and id(p) not in listed]
    assert not missing, f"trainable parameters missing from the optimizer: {missing}"
    decay, no_decay = _expected_groups(model)
    for group in groups:
        assert group["lr"] == case.lr, f"a group has lr {group['lr']}, expected {case.lr}"
        ids = {id(p) for p in group["params"]}
        if group["weight_decay"] == 0:
            wrong = ids - no_decay
            assert not wrong, f"no weight decay on {sorted(names[i] for i in wrong)}"
        else:
            assert group["weight_decay"] == case.weight_decay, f"weight decay {group['weight_decay']}"
            wrong = ids - decay
            assert not wrong, f"weight decay on {sorted(names[i] for i in wrong)}"
    assert sorted(g["weight_decay"] for g in groups) == [0, case.weight_decay], (
        "expected one group with decay"
    )


class _CountingSGD(torch.optim.SGD):
    def __init__(self, params: Any, lr: float) -> None:
        super().__init__(params, lr=lr)
        self.steps = 0

    def step(self, closure: Any = None) -> Any:
        self.steps += 1
        return super().step(closure)


def _accumulation_model(case: AccumulationCase) -> nn.Module:
    """A small float64 network whose first layer is frozen; gradients are already present."""
    torch.manual_seed(case.seed)
    frozen = nn.Linear(case.features, case.features).requires_grad_(False)
    model = nn.Sequential(frozen, nn.Linear(case.features, 4), nn.Tanh(), nn.Linear(4, case.NUM_CLASSES))
    model = devices.put(model.double())
    stale = devices.put(normal(generator(case.seed + 2), (2, case.features), dtype=torch.float64))
    model(stale).pow(2).sum().backward()  # leftover gradients must not reach the first step
    return model


def _big_batch_training(model: nn.Module, case: AccumulationCase) -> list[float]:
    """The oracle: plain SGD, one step per group on the concatenated group."""
    optimizer = torch.optim.SGD(model.parameters(), lr=SGD_LR)
    criterion = nn.CrossEntropyLoss()
    batches = case.make_batches()
    losses = []
    for start in range(0, len(batches), case.accum_steps):
        group = batches[start : start + case.accum_steps]
        with torch.no_grad():
            losses += [criterion(model(inputs), targets).item() for inputs, targets in group]
        optimizer.zero_grad()
        inputs = torch.cat([inputs for inputs, _ in group])
        targets = torch.cat([targets for _, targets in group])
        criterion(model(inputs), targets).backward()
        optimizer.step()
    return losses


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="training diverges or stalls when the accumulation steps or batch sizes change",
    cases=accumulation_cases(),
    explicit=[RICH_ACCUMULATION],
    max_examples=6,
)
def accumulation_equals_the_big_batch_step(impl: Any, case: AccumulationCase) -> None:
    """With plain SGD, the parameters after accumulating micro-batches differ from one step
    per concatenated group (micro-batches weighted by their size, a trailing partial group
    stepping on its own, stale gradients discarded), or the step count, the per-micro-batch
    losses, or a frozen parameter are wrong."""
    model = _accumulation_model(case)
    expected_model = copy.deepcopy(model)
    expected_losses = _big_batch_training(expected_model, case)
    optimizer = _CountingSGD(model.parameters(), lr=SGD_LR)
    losses = impl.train_with_accumulation(
        model, case.make_batches(), optimizer, nn.CrossEntropyLoss(), case.accum_steps
    )
    assert isinstance(losses, list), f"returned {type(losses).__name__}, not a list"
    assert all(type(loss) is float for loss in losses), (
        f"not Python floats: {[type(v).__name__ for v in losses]}"
    )
    assert len(losses) == case.num_batches, f"{len(losses)} losses for {case.num_batches} micro-batches"
    expected_steps = math.ceil(case.num_batches / case.accum_steps)
    assert optimizer.steps == expected_steps, f"{optimizer.steps} optimizer steps, expected {expected_steps}"
    for (name, actual), expected in zip(model.named_parameters(), expected_model.parameters(), strict=True):
        torch.testing.assert_close(actual, expected, atol=1e-10, rtol=1e-8, msg=f"parameter {name} differs")
    torch.testing.assert_close(losses, expected_losses, atol=1e-10, rtol=1e-8)
