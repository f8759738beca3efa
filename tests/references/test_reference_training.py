"""The training reference against a hand-checked loop, and an implementation in another
style (gradients cleared with set_to_none=False, best state as cloned tensors, example-
weighted epoch means on equal batches) that must pass every property of the suite."""

from __future__ import annotations

import copy
import types

import pytest
import torch
from torch import nn

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.training import SUITE
from pytest_mlbugs.reference_impls import training
from pytest_mlbugs.strategies.training import LoopCase, loader_over, make_batches, make_model, twin


def alternative_train_model(model, dataloader, optimizer, criterion, num_epochs=1):
    history, best, best_mean = [], None, None
    for _ in range(num_epochs):
        model.train(True)
        seen, total = 0, 0.0
        for inputs, targets in dataloader:
            optimizer.zero_grad(set_to_none=False)
            loss = criterion(model(inputs), targets)
            loss.backward()
            optimizer.step()
            value = float(loss.detach())
            history.append(value)
            total += value * len(targets)
            seen += len(targets)
        mean = total / seen
        if best_mean is None or mean < best_mean:
            best_mean = mean
            best = {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
    return best, history


def running_sum_train_model(model, dataloader, optimizer, criterion, num_epochs=1):
    """The tutorials' style: a running sum divided by len(dataloader) after the epoch, and the
    best weights kept with copy.deepcopy."""
    losses, best_loss, best_weights = [], float("inf"), None
    for _epoch in range(num_epochs):
        model.train()
        running_loss = 0.0
        for inputs, targets in dataloader:
            optimizer.zero_grad()
            loss = criterion(model(inputs), targets)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            losses.append(loss.item())
        epoch_loss = running_loss / len(dataloader)
        if best_weights is None or epoch_loss < best_loss:
            best_loss, best_weights = epoch_loss, copy.deepcopy(model.state_dict())
    return best_weights, losses


ALTERNATIVE = types.SimpleNamespace(train_model=alternative_train_model)
RUNNING_SUM = types.SimpleNamespace(train_model=running_sum_train_model)
CASE = LoopCase(num_batches=3, batch_size=4, last_batch=2, in_features=3, hidden=4, out_features=2, seed=0)


def test_losses_are_the_criterion_before_each_step():
    model = make_model(CASE)
    batches = make_batches(CASE, classification=True)
    manual = twin(model)
    _, losses = training.train_model(
        model, loader_over(batches, CASE), torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss()
    )
    expected = []
    for inputs, targets in batches:
        logits = manual(inputs)
        loss = nn.functional.cross_entropy(logits, targets)
        expected.append(loss.item())
        grads = torch.autograd.grad(loss, list(manual.parameters()))
        with torch.no_grad():
            for parameter, grad in zip(manual.parameters(), grads, strict=True):
                parameter -= 0.1 * grad
    assert all(type(loss) is float for loss in losses)
    torch.testing.assert_close(losses, expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(list(model.parameters()), list(manual.parameters()), atol=1e-6, rtol=1e-5)


def test_best_state_is_independent_of_the_live_model():
    model = make_model(CASE)
    best_state, _ = training.train_model(
        model,
        loader_over(make_batches(CASE, classification=True), CASE),
        torch.optim.SGD(model.parameters(), lr=0.1),
        nn.CrossEntropyLoss(),
        num_epochs=2,
    )
    for name, tensor in model.state_dict().items():
        assert best_state[name].data_ptr() != tensor.data_ptr(), name


def test_zero_epochs_is_refused():
    model = make_model(CASE)
    with pytest.raises(ValueError, match="num_epochs"):
        training.train_model(model, [], torch.optim.SGD(model.parameters(), lr=0.1), nn.MSELoss(), 0)


@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
@pytest.mark.parametrize(
    "impl", [training, ALTERNATIVE, RUNNING_SUM], ids=["reference", "alternative", "running_sum"]
)
def test_correct_implementations_pass_every_property(prop, impl):
    assert check_property(prop, impl, seed=0) is None
