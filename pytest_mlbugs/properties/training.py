"""Contract 3: ``training.train_model``.

Every property trains a copy of the same tiny model with an independent plain-SGD loop (the
oracle) and compares: SGD, not Adam, because Adam's normalization hides a wrongly scaled or
stale gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.strategies.training import (
    LoopCase,
    loader_over,
    loop_cases,
    make_batches,
    make_model,
    put_stale_gradients,
    twin,
)
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "training",
    names=("train_model",),
    contract="contract 3: train_model(model, dataloader, optimizer, criterion, num_epochs=1)",
)

ATOL = 1e-6
RTOL = 1e-5
LR = 0.5
Batches = Sequence[tuple[torch.Tensor, torch.Tensor]]
Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def prefixed(prefix: str) -> Callable[[str], str]:
    return lambda message: f"{prefix}: {message}"


def state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def sgd_loop(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    criterion: Criterion,
    epochs: int,
) -> tuple[list[float], list[float], list[dict[str, torch.Tensor]]]:
    """The oracle: batch losses, epoch mean losses and the state after every epoch
    (``batches`` is iterated once per epoch)."""
    model.train()
    losses: list[float] = []
    epoch_means: list[float] = []
    states = []
    for _ in range(epochs):
        epoch = []
        for inputs, targets in batches:
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(inputs), targets)
            loss.backward()
            optimizer.step()
            epoch.append(loss.item())
        losses += epoch
        epoch_means.append(sum(epoch) / len(epoch))
        states.append(state_copy(model))
    return losses, epoch_means, states


def ascending_after(optimizer: torch.optim.SGD, steps: int, *, lr: float = 2.0) -> torch.optim.SGD:
    """Make plain SGD climb the loss with a large ``lr`` from step ``steps - 1`` (counting from
    0) on, so that every loss of the epoch after it is worse than the epochs before."""
    count = 0

    def schedule(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        nonlocal count
        if count == steps - 1:
            for group in opt.param_groups:
                group["maximize"] = True
                group["lr"] = lr
        count += 1

    optimizer.register_step_pre_hook(schedule)
    return optimizer


def assert_float_losses(losses: Any, expected_count: int) -> None:
    assert isinstance(losses, list), f"losses is a {type(losses).__name__}, not a list"
    assert len(losses) == expected_count, f"{len(losses)} losses for {expected_count} batches"
    kinds = sorted({type(loss).__name__ for loss in losses if not isinstance(loss, float)})
    assert not kinds, f"losses must be Python floats, found {', '.join(kinds)}"


def assert_states_equal(
    actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], what: str
) -> None:
    assert isinstance(actual, dict), f"{what} is a {type(actual).__name__}, not a state dict"
    assert sorted(actual) == sorted(expected), f"{what} has keys {sorted(actual)}"
    for name, value in expected.items():
        torch.testing.assert_close(actual[name], value, atol=ATOL, rtol=RTOL, msg=prefixed(f"{what}[{name}]"))


RICH = LoopCase(num_batches=3, batch_size=4, last_batch=2, in_features=4, hidden=5, out_features=3, seed=11)


@SUITE.property(
    layer=Layer.LOSS,
    symptom="the loss curve looks wrong, or memory grows every step until out-of-memory",
    cases=loop_cases(),
    explicit=[RICH],
    max_examples=5,
)
def losses_are_one_python_float_per_batch(impl: Any, case: LoopCase) -> None:
    """The losses are not one Python float per batch equal to criterion(model(inputs), targets):
    a tensor kept in the list holds its whole autograd graph alive, or the loss is computed
    on the wrong arguments."""
    model = make_model(case)
    reference = twin(model)
    batches = make_batches(case, classification=True)
    criterion = nn.CrossEntropyLoss()
    _, losses = impl.train_model(
        model, loader_over(batches, case), torch.optim.SGD(model.parameters(), lr=LR), criterion, 2
    )
    assert_float_losses(losses, 2 * case.num_batches)
    expected, _, _ = sgd_loop(
        reference, batches, torch.optim.SGD(reference.parameters(), lr=LR), criterion, 2
    )
    torch.testing.assert_close(losses, expected, atol=ATOL, rtol=RTOL)


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="the first steps jump, the loss is noisy or flat, dropout never regularizes",
    cases=loop_cases(),
    explicit=[RICH],
    max_examples=8,
)
def training_matches_a_plain_sgd_loop(impl: Any, case: LoopCase) -> None:
    """Trained from eval mode with stale gradients on every parameter, the losses or the
    final weights differ from a plain zero_grad / forward / backward / step loop in train
    mode: gradients leak between steps, the step comes before backward, or dropout is off."""
    model = make_model(case, dropout=0.5).eval()
    reference = twin(model).train()
    put_stale_gradients(model, case.seed)
    batches = make_batches(case, classification=True)
    criterion = nn.CrossEntropyLoss()
    torch.manual_seed(case.seed + 7)
    _, losses = impl.train_model(
        model, loader_over(batches, case), torch.optim.SGD(model.parameters(), lr=LR), criterion, 2
    )
    torch.manual_seed(case.seed + 7)  # the same dropout masks for the oracle
    expected, _, states = sgd_loop(
        reference, batches, torch.optim.SGD(reference.parameters(), lr=LR), criterion, 2
    )
    assert_float_losses(losses, 2 * case.num_batches)
    torch.testing.assert_close(losses, expected, atol=ATOL, rtol=RTOL)
    assert_states_equal(state_copy(model), states[-1], "the model after training")


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="the saved 'best' checkpoint is as bad as the last epoch",
    cases=loop_cases(short_last_batch=False, max_batches=3),
    explicit=[
        LoopCase(num_batches=3, batch_size=3, last_batch=3, in_features=3, hidden=4, out_features=2, seed=5)
    ],
    max_examples=6,
)
def best_state_is_a_copy_from_the_best_epoch(impl: Any, case: LoopCase) -> None:
    """best_state is not an independent copy of the weights at the end of the epoch with the
    lowest mean loss (here not the last epoch): it aliases the live parameters, so later
    training overwrites it, or it comes from the wrong epoch."""
    epochs = 3
    model = make_model(case)
    reference = twin(model)
    batches = make_batches(case, classification=False)
    criterion = nn.MSELoss()
    ascent = (epochs - 1) * case.num_batches

    def optimizer(m: nn.Module) -> torch.optim.SGD:
        return ascending_after(torch.optim.SGD(m.parameters(), lr=0.2), ascent)

    best_state, _ = impl.train_model(model, loader_over(batches, case), optimizer(model), criterion, epochs)
    _, epoch_means, states = sgd_loop(reference, batches, optimizer(reference), criterion, epochs)
    best_epoch = min(range(epochs), key=epoch_means.__getitem__)
    assert_states_equal(
        best_state, states[best_epoch], f"best_state (best epoch {best_epoch + 1} of {epochs})"
    )
    with torch.no_grad():  # what later training does to the live parameters
        for parameter in model.parameters():
            parameter.add_(1.0)
    assert_states_equal(best_state, states[best_epoch], "best_state after the parameters changed")


class EpochLoader:
    """Re-iterable batches whose epoch ``e`` is the first ``lengths[e]`` of ``batches``: a
    sampler that draws a different number of batches each epoch. ``len()`` counts the batches
    of the epoch last started (the first epoch's before any), as a loop reads it after its
    batches."""

    def __init__(self, batches: Batches, lengths: Sequence[int]) -> None:
        self.batches = batches
        self.lengths = lengths
        self.epoch = 0

    def _length(self, epoch: int) -> int:
        return self.lengths[min(max(epoch, 0), len(self.lengths) - 1)]

    def __len__(self) -> int:
        return self._length(self.epoch - 1)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        length = self._length(self.epoch)
        self.epoch += 1
        return iter(self.batches[:length])


def loader_of_epochs(batches: Batches, lengths: Sequence[int], case: LoopCase) -> Iterable[Any]:
    """A ``DataLoader`` over ``batches`` when every epoch has them all (so that a loop may count
    with ``len(loader)`` or ``len(loader.dataset)``), an :class:`EpochLoader` otherwise."""
    if all(length == len(batches) for length in lengths):
        return loader_over(list(batches), case)
    return EpochLoader(batches, lengths)


def scheduled_loss(values: Sequence[float]) -> Criterion:
    """A criterion whose k-th call reports ``values[k]`` while its gradient stays the MSE's:
    the weights keep changing every step (so that each epoch leaves another state) whatever
    the loss the loop sees, NaN included."""
    calls = 0

    def criterion(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        value = values[calls]
        calls += 1
        mse = nn.functional.mse_loss(outputs, targets)
        return mse - mse.detach() + value

    return criterion


def best_epoch_scenarios(num_batches: int) -> list[tuple[str, list[int], list[float], int]]:
    """``(what, batches per epoch, loss of each batch in order, the best epoch)``, each with an
    epoch that is best by the contract's rule and by no likely slip of it."""
    n = num_batches
    return [
        # equal epoch losses: the first epoch stays best, a later one must be strictly lower
        ("equal epoch losses", [n, n, n], [1.0] * (3 * n), 0),
        # a diverged run: NaN is never lower, so the first epoch's state is kept
        ("NaN epoch losses", [n, n], [math.nan] * (2 * n), 0),
        # epochs of different lengths: the mean, not the sum (nor the sum times the count)
        ("epochs of different lengths", [n, 1], [1.0] * n + [1.5], 0),
        ("epochs of different lengths", [1, n], [1.5] + [1.0] * n, 1),
        # the epoch's mean, not its last batch's loss: 1 + 4 / n < 4, but 5 > 4
        ("a last batch unlike the rest of its epoch", [n, n], [1.0] * (n - 1) + [5.0] + [4.0] * n, 0),
    ]


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="the saved 'best' checkpoint is missing after a diverged run, or comes from the wrong epoch",
    cases=loop_cases(short_last_batch=False, max_batches=3),
    explicit=[
        LoopCase(num_batches=2, batch_size=3, last_batch=3, in_features=3, hidden=4, out_features=2, seed=6)
    ],
    max_examples=2,  # the scenarios, not the case, carry the bugs: a few cases are enough
)
def best_epoch_is_the_first_with_the_lowest_mean_loss(impl: Any, case: LoopCase) -> None:
    """best_state does not come from the first epoch with the lowest mean batch loss: a tie
    went to a later epoch, NaN losses left no best state at all, an epoch's loss was its sum
    (or weighted by its number of batches) over epochs of different lengths, or one batch's
    loss stood for the epoch's; or the default num_epochs is not 1."""
    batches = make_batches(case, classification=False)
    for what, lengths, values, best in best_epoch_scenarios(case.num_batches):
        model = make_model(case)
        reference = twin(model)
        epochs = len(lengths)
        best_state, losses = impl.train_model(
            model,
            loader_of_epochs(batches, lengths, case),
            torch.optim.SGD(model.parameters(), lr=0.1),
            scheduled_loss(values),
            epochs,
        )
        assert_float_losses(losses, len(values))
        torch.testing.assert_close(losses, values, atol=ATOL, rtol=RTOL, equal_nan=True, msg=prefixed(what))
        _, _, states = sgd_loop(
            reference,
            loader_of_epochs(batches, lengths, case),
            torch.optim.SGD(reference.parameters(), lr=0.1),
            scheduled_loss(values),
            epochs,
        )
        assert_states_equal(best_state, states[best], f"with {what}, best_state (epoch {best + 1} is best)")
    model = make_model(case)
    reference = twin(model)
    best_state, losses = impl.train_model(
        model, loader_over(batches, case), torch.optim.SGD(model.parameters(), lr=0.1), nn.MSELoss()
    )
    assert_float_losses(losses, case.num_batches)  # num_epochs defaults to 1
    _, _, states = sgd_loop(
        reference, batches, torch.optim.SGD(reference.parameters(), lr=0.1), nn.MSELoss(), 1
    )
    assert_states_equal(best_state, states[0], "best_state after the default single epoch")
