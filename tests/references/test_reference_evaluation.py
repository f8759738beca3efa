"""The evaluation reference against a one-pass closed form, and an implementation in another
style (inference_mode, concatenated logits, each submodule's mode restored, examples counted
with len(loader.dataset)) that must pass every property of the suite."""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.evaluation import SUITE
from pytest_mlbugs.reference_impls import evaluation
from pytest_mlbugs.strategies.training import LoopCase, make_batches, make_loader, make_model


def alternative_evaluate(model, dataloader, criterion):
    modes = {module: module.training for module in model.modules()}
    model.eval()
    logits, labels = [], []
    with torch.inference_mode():
        for inputs, targets in dataloader:
            logits.append(model(inputs))
            labels.append(targets)
        logits, labels = torch.cat(logits), torch.cat(labels)
        mean_loss = criterion(logits, labels).item()
        correct = (logits.argmax(1) == labels).sum().item()
    for module, mode in modes.items():
        module.training = mode
    return correct / len(dataloader.dataset) * 100, mean_loss


ALTERNATIVE = types.SimpleNamespace(evaluate_model=alternative_evaluate)
CASE = LoopCase(num_batches=3, batch_size=4, last_batch=1, in_features=3, hidden=4, out_features=3, seed=4)


@pytest.mark.parametrize("training", [True, False])
def test_metrics_weight_every_example_and_the_mode_is_kept(training):
    model = make_model(CASE, dropout=1.0, batch_norm=True).train(training)
    batches = make_batches(CASE, classification=True)
    inputs = torch.cat([x for x, _ in batches])
    labels = torch.cat([y for _, y in batches])
    accuracy, loss = evaluation.evaluate_model(
        model, make_loader(CASE, classification=True), nn.CrossEntropyLoss()
    )
    assert model.training is training and all(m.training is training for m in model.modules())
    with torch.no_grad():
        logits = model.eval()(inputs)
    log_probs = logits - logits.logsumexp(dim=1, keepdim=True)
    expected_loss = -log_probs[torch.arange(len(labels)), labels].mean().item()
    expected_accuracy = (
        100.0 * sum(int(row.argmax()) == int(y) for row, y in zip(logits, labels, strict=True)) / 9
    )
    assert isinstance(accuracy, float) and isinstance(loss, float)
    torch.testing.assert_close(loss, expected_loss, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(accuracy, expected_accuracy, atol=1e-9, rtol=0.0)


@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
@pytest.mark.parametrize("impl", [evaluation, ALTERNATIVE], ids=["reference", "alternative"])
def test_correct_implementations_pass_every_property(prop, impl):
    assert check_property(prop, impl, seed=0) is None
