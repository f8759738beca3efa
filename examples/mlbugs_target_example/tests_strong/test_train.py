"""The strong suite for tinyclf.train: the loops against hand-written steps, modes and grad mode."""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from tinyclf.train import evaluate, predict_proba, train_epoch
from torch import nn


class Recorder(nn.Module):
    """A linear model that remembers the train flag and grad mode of every forward call."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(4, 3)
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append((self.training, torch.is_grad_enabled()))
        return self.linear(x)


def batches(sizes=(5, 2)):
    generator = torch.Generator().manual_seed(1)
    return [
        (torch.randn(n, 4, generator=generator), torch.randint(0, 3, (n,), generator=generator))
        for n in sizes
    ]


def test_train_epoch_takes_plain_sgd_steps_from_fresh_gradients():
    model, reference = Recorder(), Recorder()
    for p in model.parameters():
        p.grad = torch.full_like(p, 100.0)  # stale gradients must not leak into the first step
    data = batches()
    losses = train_epoch(model, data, torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())
    expected = []
    for inputs, targets in data:
        loss = F.cross_entropy(reference(inputs), targets)
        grads = torch.autograd.grad(loss, list(reference.parameters()))
        with torch.no_grad():
            for p, g in zip(reference.parameters(), grads, strict=True):
                p -= 0.1 * g
        expected.append(loss.item())
    assert all(type(loss) is float for loss in losses)
    assert losses == expected
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p, q)


def test_train_epoch_trains_in_train_mode():
    model = Recorder().eval()
    train_epoch(model, batches(), torch.optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss())
    assert all(training for training, _ in model.seen)


def test_evaluate_weights_every_example_equally():
    model, data = Recorder(), batches((5, 2))
    inputs = torch.cat([x for x, _ in data])
    targets = torch.cat([y for _, y in data])
    logits = model.linear(inputs)
    accuracy, loss = evaluate(model, data)
    assert accuracy == (logits.argmax(dim=1) == targets).sum().item() / len(targets)
    assert abs(loss - F.cross_entropy(logits, targets).item()) < 1e-6


def test_evaluate_runs_in_eval_mode_without_a_graph_and_restores_the_mode():
    for was_training in (True, False):
        model = Recorder().train(was_training)
        evaluate(model, batches())
        assert model.seen and all(seen == (False, False) for seen in model.seen)
        assert model.training is was_training


def test_predict_proba_gives_probabilities_per_row_in_eval_mode_without_a_graph():
    for was_training in (True, False):
        model = Recorder().train(was_training)
        inputs = torch.randn(5, 4)
        probs = predict_proba(model, inputs)
        torch.testing.assert_close(probs, F.softmax(model.linear(inputs), dim=1))
        assert model.seen == [(False, False)]
        assert model.training is was_training


def test_predict_proba_normalizes_the_last_axis_of_a_batch_of_sequences_without_warnings():
    model = Recorder()
    inputs = torch.randn(2, 5, 4)  # (B, T, features): the class axis is the last one
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probs = predict_proba(model, inputs)
    torch.testing.assert_close(probs, F.softmax(model.linear(inputs), dim=-1))
