"""Tiny models, datasets and loaders from a seed, for the training, grad_clip and evaluation suites.

A case carries only integers; the suites build the model and the batches from its seed. Models
are small ``nn.Sequential`` stacks, so that a wrongly ordered ``zero_grad``/``step``, a missing
``eval()`` or a gradient clipped per tensor shows within a handful of plain-SGD steps.
"""

from __future__ import annotations

import copy
import dataclasses

import torch
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pytest_mlbugs import devices
from pytest_mlbugs.strategies.tensors import generator, normal, seeds


@dataclasses.dataclass(frozen=True)
class LoopCase:
    """A dataset of ``num_batches`` batches: all of ``batch_size`` examples but the last, which
    has ``last_batch`` (a short last batch when smaller)."""

    num_batches: int
    batch_size: int
    last_batch: int
    in_features: int
    hidden: int
    #: output width: the number of classes for classification, the target width for regression
    out_features: int
    seed: int

    @property
    def num_examples(self) -> int:
        return (self.num_batches - 1) * self.batch_size + self.last_batch


def loop_cases(
    *,
    min_batches: int = 2,
    max_batches: int = 4,
    min_batch_size: int = 2,
    max_batch_size: int = 4,
    short_last_batch: bool = True,
    max_features: int = 5,
    min_out_features: int = 2,
    max_out_features: int = 4,
) -> st.SearchStrategy[LoopCase]:
    """Loop cases with at least two batches of at least two examples; with ``short_last_batch``
    the last batch is strictly smaller (and has at least one example), otherwise it is full."""
    if not 1 <= min_batches <= max_batches:
        raise ValueError(f"need 1 <= min_batches <= max_batches, got {min_batches}, {max_batches}")
    if not 2 <= min_batch_size <= max_batch_size:
        raise ValueError(
            f"need 2 <= min_batch_size <= max_batch_size, got {min_batch_size}, {max_batch_size}"
        )
    if not 1 <= min_out_features <= max_out_features:
        raise ValueError(
            f"need 1 <= min_out_features <= max_out_features, got {min_out_features}, {max_out_features}"
        )

    @st.composite
    def draw(draw_: st.DrawFn) -> LoopCase:
        batch_size = draw_(st.integers(min_batch_size, max_batch_size))
        last = draw_(st.integers(1, batch_size - 1)) if short_last_batch else batch_size
        return LoopCase(
            num_batches=draw_(st.integers(min_batches, max_batches)),
            batch_size=batch_size,
            last_batch=last,
            in_features=draw_(st.integers(2, max_features)),
            hidden=draw_(st.integers(2, max_features)),
            out_features=draw_(st.integers(min_out_features, max_out_features)),
            seed=draw_(seeds()),
        )

    return draw()


def make_model(case: LoopCase, *, dropout: float = 0.0, batch_norm: bool = False) -> nn.Sequential:
    """``Linear -> [BatchNorm1d] -> Tanh -> Dropout -> Linear``, initialized from ``case.seed``
    (on the CPU, so the weights are the same everywhere) and put on the session's device.

    With ``batch_norm`` the running statistics are randomized, so that train-mode batch
    statistics and eval-mode running statistics give visibly different outputs.
    """
    torch.manual_seed(case.seed)
    layers: list[nn.Module] = [nn.Linear(case.in_features, case.hidden)]
    if batch_norm:
        norm = nn.BatchNorm1d(case.hidden)
        gen = generator(case.seed + 1)
        assert norm.running_mean is not None and norm.running_var is not None
        norm.running_mean.copy_(normal(gen, (case.hidden,)))
        norm.running_var.copy_(torch.rand(case.hidden, generator=gen) + 0.5)
        layers.append(norm)
    layers += [nn.Tanh(), nn.Dropout(dropout), nn.Linear(case.hidden, case.out_features)]
    return devices.put(nn.Sequential(*layers))


def make_batches(
    case: LoopCase, *, classification: bool, target_scale: float = 1.0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A list of ``(inputs, targets)`` batches: class indices (int64) for classification,
    float targets of width ``out_features`` otherwise."""
    gen = generator(case.seed + 2)
    sizes = [case.batch_size] * (case.num_batches - 1) + [case.last_batch]
    batches = []
    for size in sizes:
        inputs = normal(gen, (size, case.in_features))
        if classification:
            targets = torch.randint(0, case.out_features, (size,), generator=gen)
        else:
            targets = normal(gen, (size, case.out_features), scale=target_scale)
        batches.append((devices.put(inputs), devices.put(targets)))
    return batches


def make_loader(case: LoopCase, *, classification: bool) -> DataLoader:
    """A ``DataLoader`` over the examples of :func:`make_batches`, in the same batches."""
    return loader_over(make_batches(case, classification=classification), case)


def loader_over(batches: list[tuple[torch.Tensor, torch.Tensor]], case: LoopCase) -> DataLoader:
    """A ``DataLoader`` that yields ``batches`` again: in order, the short last batch kept, with
    a ``dataset`` (implementations may count examples with ``len(loader.dataset)``) and its own
    generator, so that iterating it leaves torch's global RNG alone."""
    inputs = torch.cat([x for x, _ in batches])
    targets = torch.cat([y for _, y in batches])
    return DataLoader(
        TensorDataset(inputs, targets),
        batch_size=case.batch_size,
        shuffle=False,
        drop_last=False,
        generator=torch.Generator().manual_seed(case.seed),
    )


def twin(model: nn.Module) -> nn.Module:
    """An independent copy of ``model`` (parameters, buffers, mode) for an oracle to train."""
    return copy.deepcopy(model)


def put_stale_gradients(model: nn.Module, seed: int) -> None:
    """Give every parameter a large non-zero ``.grad``, as a previous backward would leave it."""
    gen = generator(seed + 3)
    for parameter in model.parameters():
        parameter.grad = devices.put(normal(gen, parameter.shape, scale=10.0))


@dataclasses.dataclass(frozen=True)
class ClipCase:
    """``num_tensors`` gradients of different sizes; ``max_norm`` is ``max_norm_percent`` % of
    their total norm (below 100: clipping happens; above: it must not)."""

    num_tensors: int
    max_size: int
    #: 0 stands for the infinity norm
    norm_type: int
    max_norm_percent: int
    seed: int

    @property
    def norm(self) -> float:
        return float("inf") if self.norm_type == 0 else float(self.norm_type)


def clip_cases(*, max_tensors: int = 4, max_size: int = 5) -> st.SearchStrategy[ClipCase]:
    """Clip cases with at least two gradient tensors (one tensor hides a per-tensor norm)."""
    if max_tensors < 2 or max_size < 1:
        raise ValueError(f"need max_tensors >= 2 and max_size >= 1, got {max_tensors}, {max_size}")
    return st.builds(
        ClipCase,
        num_tensors=st.integers(2, max_tensors),
        max_size=st.integers(1, max_size),
        norm_type=st.sampled_from((1, 2, 3, 0)),
        max_norm_percent=st.sampled_from((5, 30, 80, 150)),
        seed=seeds(),
    )


def make_parameters(case: ClipCase) -> list[nn.Parameter]:
    """Parameters with gradients of visibly different norms, plus one without a gradient."""
    gen = generator(case.seed)
    parameters = []
    for i in range(case.num_tensors):
        rows = 1 + int(torch.randint(0, case.max_size, (1,), generator=gen))
        cols = 1 + int(torch.randint(0, case.max_size, (1,), generator=gen))
        parameter = nn.Parameter(devices.put(normal(gen, (rows, cols))))
        parameter.grad = devices.put(normal(gen, (rows, cols), scale=float(3**i)))
        parameters.append(parameter)
    parameters.append(nn.Parameter(devices.put(normal(gen, (2,)))))  # never used: its grad stays None
    return parameters
