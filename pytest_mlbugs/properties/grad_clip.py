"""Contract 5: ``grad_clip.clip_gradients`` and ``grad_clip.train_with_gradient_clipping``.

The oracle is ``torch.nn.utils.clip_grad_norm_`` itself, with deprecation warnings turned into
errors so that a deprecated spelling fails the way it will in a later PyTorch.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.strategies.tensors import generator, normal, seeds
from pytest_mlbugs.strategies.training import (
    ClipCase,
    LoopCase,
    clip_cases,
    loader_over,
    loop_cases,
    make_batches,
    make_model,
    make_parameters,
    twin,
)
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "grad_clip",
    names=("clip_gradients", "train_with_gradient_clipping"),
    contract="contract 5: clip_gradients(parameters, max_norm, norm_type=2.0), "
    "train_with_gradient_clipping(model, dataloader, optimizer, criterion, max_grad_norm=1.0)",
)

ATOL = 1e-6
RTOL = 1e-5
LR = 0.5
#: small enough that every batch of the loop cases is clipped
MAX_GRAD_NORM = 0.05


def prefixed(prefix: str) -> Callable[[str], str]:
    return lambda message: f"{prefix}: {message}"


@contextlib.contextmanager
def deprecations_as_errors() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        yield


def total_norm(grads: list[torch.Tensor], norm: float) -> float:
    return torch.linalg.vector_norm(torch.cat([g.flatten() for g in grads]), norm).item()


RICH = LoopCase(num_batches=3, batch_size=3, last_batch=3, in_features=4, hidden=5, out_features=3, seed=21)


def clipped_sgd_loop(
    model: nn.Module,
    batches: Any,
    optimizer: torch.optim.Optimizer,
    criterion: Any,
    max_grad_norm: float = MAX_GRAD_NORM,
) -> float:
    """The oracle: zero_grad, forward, backward, clip_grad_norm_, step; the mean batch loss."""
    losses = []
    for inputs, targets in batches:
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(inputs), targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="loss spikes survive clipping, or training crawls and stalls",
    cases=loop_cases(short_last_batch=False),
    explicit=[RICH],
    max_examples=6,
)
def training_matches_a_clipped_sgd_loop(impl: Any, case: LoopCase) -> None:
    """The mean loss (a Python float) or the weights after one epoch differ from a plain SGD
    loop that clips the total gradient norm between backward and step: clipping comes too
    late, per tensor, or gradients accumulate across batches."""
    model = make_model(case)
    reference = twin(model)
    batches = make_batches(case, classification=True)
    criterion = nn.CrossEntropyLoss()
    with deprecations_as_errors():
        mean_loss = impl.train_with_gradient_clipping(
            model,
            loader_over(batches, case),
            torch.optim.SGD(model.parameters(), lr=LR),
            criterion,
            max_grad_norm=MAX_GRAD_NORM,
        )
    expected = clipped_sgd_loop(reference, batches, torch.optim.SGD(reference.parameters(), lr=LR), criterion)
    assert_same_training(mean_loss, expected, model, reference)


def assert_same_training(mean_loss: Any, expected: float, model: nn.Module, reference: nn.Module) -> None:
    assert isinstance(mean_loss, float), f"the mean loss is a {type(mean_loss).__name__}, not a float"
    torch.testing.assert_close(mean_loss, expected, atol=ATOL, rtol=RTOL, msg=prefixed("mean loss"))
    for (name, actual), wanted in zip(model.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(actual, wanted, atol=ATOL, rtol=RTOL, msg=prefixed(name))


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="loss spikes survive clipping: the default clips at another norm",
    cases=loop_cases(short_last_batch=False, max_batches=3),
    explicit=[RICH],
    max_examples=3,
)
def training_clips_at_norm_one_by_default(impl: Any, case: LoopCase) -> None:
    """Without max_grad_norm, the loop does not clip the total gradient norm at 1.0 (the
    regression targets here are large, so that every batch's gradient norm is well above 2)."""
    model = make_model(case)
    reference = twin(model)
    batches = make_batches(case, classification=False, target_scale=50.0)
    criterion = nn.MSELoss()
    with deprecations_as_errors():
        mean_loss = impl.train_with_gradient_clipping(
            model, loader_over(batches, case), torch.optim.SGD(model.parameters(), lr=0.01), criterion
        )
    expected = clipped_sgd_loop(
        reference, batches, torch.optim.SGD(reference.parameters(), lr=0.01), criterion, max_grad_norm=1.0
    )
    assert_same_training(mean_loss, expected, model, reference)


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="training is unstable although clipping is on, or updates are needlessly tiny",
    cases=clip_cases(),
    explicit=[
        ClipCase(num_tensors=3, max_size=4, norm_type=2, max_norm_percent=30, seed=1),
        ClipCase(num_tensors=3, max_size=4, norm_type=0, max_norm_percent=30, seed=2),
        ClipCase(num_tensors=2, max_size=3, norm_type=1, max_norm_percent=150, seed=3),
        ClipCase(num_tensors=4, max_size=3, norm_type=3, max_norm_percent=5, seed=4),
    ],
    max_examples=4,
)
def clip_gradients_matches_clip_grad_norm_(impl: Any, case: ClipCase) -> None:
    """clip_gradients returns another total norm, or leaves other gradients, than
    torch.nn.utils.clip_grad_norm_: the norm is taken per tensor, returned after clipping,
    the gradients are scaled up, or the norm type is ignored."""
    parameters = make_parameters(case)
    expected_parameters = [nn.Parameter(p.detach().clone()) for p in parameters]
    for mine, theirs in zip(parameters, expected_parameters, strict=True):
        theirs.grad = None if mine.grad is None else mine.grad.clone()
    grads = [p.grad for p in parameters if p.grad is not None]
    max_norm = total_norm(grads, case.norm) * case.max_norm_percent / 100
    with deprecations_as_errors():
        if case.norm == 2.0:  # the default norm_type
            result = impl.clip_gradients(iter(parameters), max_norm)
        else:
            result = impl.clip_gradients(iter(parameters), max_norm, norm_type=case.norm)
        expected = torch.nn.utils.clip_grad_norm_(expected_parameters, max_norm, norm_type=case.norm)
    assert isinstance(result, float), f"clip_gradients returned a {type(result).__name__}, not a float"
    torch.testing.assert_close(result, expected.item(), atol=ATOL, rtol=RTOL, msg=prefixed("total norm"))
    for i, (mine, theirs) in enumerate(zip(parameters, expected_parameters, strict=True)):
        if theirs.grad is None:
            assert mine.grad is None, f"parameter {i} had no gradient and got one"
            continue
        torch.testing.assert_close(mine.grad, theirs.grad, atol=ATOL, rtol=RTOL, msg=prefixed(f"grad {i}"))


def gradients_of(seed: int, scale: float, *shapes: tuple[int, ...]) -> list[nn.Parameter]:
    gen = generator(seed)
    parameters = []
    for shape in shapes:
        parameter = nn.Parameter(devices.put(normal(gen, shape)))
        parameter.grad = devices.put(normal(gen, shape, scale=scale))
        parameters.append(parameter)
    return parameters


def twins(parameters: list[nn.Parameter]) -> list[nn.Parameter]:
    copies = [nn.Parameter(p.detach().clone()) for p in parameters]
    for copy, original in zip(copies, parameters, strict=True):
        copy.grad = None if original.grad is None else original.grad.clone()
    return copies


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="clipping crashes on one tensor, reports a norm without gradients, or blows up tiny gradients",
    cases=seeds(),
    explicit=[3],
    max_examples=2,
)
def clip_gradients_handles_one_tensor_no_gradients_and_tiny_norms(impl: Any, seed: int) -> None:
    """Unlike clip_grad_norm_, clip_gradients fails on a single tensor (not in a list), does
    not return 0.0 when no parameter has a gradient, or scales gradients whose total norm is
    near zero by another coefficient than max_norm / (total_norm + 1e-6)."""
    single = gradients_of(seed, 5.0, (3, 2))[0]
    (expected_single,) = twins([single])
    with deprecations_as_errors():
        result = impl.clip_gradients(single, 1.0)
        expected = torch.nn.utils.clip_grad_norm_(expected_single, 1.0)
    torch.testing.assert_close(
        result, expected.item(), atol=ATOL, rtol=RTOL, msg=prefixed("one tensor's norm")
    )
    torch.testing.assert_close(
        single.grad, expected_single.grad, atol=ATOL, rtol=RTOL, msg=prefixed("one tensor")
    )
    without = [nn.Parameter(devices.put(torch.ones(2))), nn.Parameter(devices.put(torch.ones(3)))]
    with deprecations_as_errors():
        nothing = impl.clip_gradients(without, 1.0)
    assert nothing == 0.0 and isinstance(nothing, float), f"without gradients the total norm is {nothing!r}"
    assert all(p.grad is None for p in without), "clip_gradients created gradients"
    # a total norm of a few 1e-6 and max_norm below it: the 1e-6 in the coefficient matters
    tiny = gradients_of(seed + 1, 1e-6, (2, 2), (3,))
    expected_tiny = twins(tiny)
    norm = total_norm([p.grad for p in tiny if p.grad is not None], 2.0)
    with deprecations_as_errors():
        result = impl.clip_gradients(tiny, norm / 2)
        expected = torch.nn.utils.clip_grad_norm_(expected_tiny, norm / 2)
    torch.testing.assert_close(
        result, expected.item(), atol=0.0, rtol=RTOL, msg=prefixed("a tiny total norm")
    )
    for i, (mine, theirs) in enumerate(zip(tiny, expected_tiny, strict=True)):
        torch.testing.assert_close(
            mine.grad, theirs.grad, atol=0.0, rtol=RTOL, msg=prefixed(f"tiny grad {i}")
        )
