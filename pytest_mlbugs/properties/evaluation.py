"""Contract 8: ``evaluation.evaluate_model``.

The models hold ``Dropout(p=1)`` and a ``BatchNorm1d`` with randomized running statistics, so
that an evaluation in train mode gives visibly different numbers, and the data end in a short
last batch, so that averaging batch means instead of examples shows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.strategies.training import LoopCase, loop_cases, make_batches, make_loader, make_model
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "evaluation",
    names=("evaluate_model",),
    contract="contract 8: evaluate_model(model, dataloader, criterion) -> (accuracy_percent, mean_loss)",
)

ATOL = 1e-6
RTOL = 1e-5
RICH = LoopCase(num_batches=3, batch_size=4, last_batch=1, in_features=4, hidden=5, out_features=3, seed=8)
#: batches as large as the number of classes, none of one example: an argmax over the batch axis
#: and batch norm in train mode then give wrong numbers instead of failing
SQUARE = LoopCase(num_batches=2, batch_size=3, last_batch=3, in_features=3, hidden=5, out_features=3, seed=9)


def prefixed(prefix: str) -> Callable[[str], str]:
    return lambda message: f"{prefix}: {message}"


def build(case: LoopCase, *, training: bool) -> nn.Sequential:
    model = make_model(case, dropout=1.0, batch_norm=True)
    return model.train(training)


def expected_metrics(model: nn.Module, case: LoopCase) -> tuple[float, float]:
    """The oracle: every example at once, in eval mode; the criterion's mean is per example."""
    batches = make_batches(case, classification=True)
    inputs = torch.cat([x for x, _ in batches])
    targets = torch.cat([y for _, y in batches])
    was_training = model.training
    model.eval()
    with torch.no_grad():
        logits = model(inputs)
        loss = nn.functional.cross_entropy(logits, targets).item()
        accuracy = 100.0 * (logits.argmax(dim=1) == targets).double().mean().item()
    model.train(was_training)
    return accuracy, loss


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="validation loss and accuracy are off, noisy from run to run, or a tensor",
    cases=loop_cases(min_out_features=2),
    explicit=[SQUARE, RICH],
    max_examples=5,
)
def metrics_match_an_eval_mode_pass_over_all_examples(impl: Any, case: LoopCase) -> None:
    """(accuracy percent, mean loss) are not the Python floats of one eval-mode pass over the
    whole dataset: dropout or batch statistics were active, the short last batch weighs as
    much as a full one, the argmax runs over the wrong axis, or a tensor is returned."""
    model = build(case, training=True)
    expected_accuracy, expected_loss = expected_metrics(model, case)
    result = impl.evaluate_model(model, make_loader(case, classification=True), nn.CrossEntropyLoss())
    assert isinstance(result, tuple) and len(result) == 2, f"expected (accuracy, loss), got {result!r}"
    accuracy, loss = result
    for name, value in (("accuracy", accuracy), ("mean loss", loss)):
        assert isinstance(value, float), f"the {name} is a {type(value).__name__}, not a Python float"
    torch.testing.assert_close(loss, expected_loss, atol=ATOL, rtol=RTOL, msg=prefixed("mean loss"))
    torch.testing.assert_close(accuracy, expected_accuracy, atol=1e-4, rtol=0.0, msg=prefixed("accuracy %"))


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="evaluation is slow and memory grows; dropout or batch norm act during validation",
    cases=loop_cases(),
    explicit=[RICH],
    max_examples=2,
)
def forward_runs_in_eval_mode_without_a_graph(impl: Any, case: LoopCase) -> None:
    """During evaluate_model's forward passes, gradients were enabled (an autograd graph is
    built for nothing) or some module was still in training mode."""
    model = build(case, training=True)
    seen: list[tuple[bool, bool, bool]] = []

    def record(module: nn.Module, args: Any, output: torch.Tensor) -> None:
        modes = all(not m.training for m in module.modules())
        seen.append((torch.is_grad_enabled(), output.requires_grad, modes))

    handle = model.register_forward_hook(record)
    try:
        impl.evaluate_model(model, make_loader(case, classification=True), nn.CrossEntropyLoss())
    finally:
        handle.remove()
    assert seen, "evaluate_model never called the model"
    for grad_enabled, requires_grad, eval_mode in seen:
        assert not grad_enabled, "gradients were enabled during the forward pass"
        assert not requires_grad, "the outputs require grad: an autograd graph was built"
        assert eval_mode, "a module was in training mode during the forward pass"


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="after the first validation, training runs without dropout and batch statistics",
    cases=loop_cases(max_batches=2),
    explicit=[RICH],
    max_examples=2,
)
def previous_mode_is_restored(impl: Any, case: LoopCase) -> None:
    """After evaluate_model the model (or one of its modules) is not in the train/eval mode it
    had before the call; the training loop that follows runs in the wrong mode."""
    for training in (True, False):
        model = build(case, training=training)
        impl.evaluate_model(model, make_loader(case, classification=True), nn.CrossEntropyLoss())
        modes = {name or "model": m.training for name, m in model.named_modules()}
        wrong = [name for name, mode in modes.items() if mode != training]
        assert not wrong, f"started in {'train' if training else 'eval'} mode; now {wrong} differ"
