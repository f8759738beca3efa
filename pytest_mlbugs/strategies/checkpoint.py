"""A tiny training run to interrupt, for the checkpoint suite (contract 23).

The model has a persistent buffer that training changes (``BatchNorm1d``'s running statistics)
and train-mode dropout, the optimizer is Adam (moments and a step count of its own), and the
scheduler a ``LambdaLR``, whose state is not in the optimizer: resuming bit for bit needs every
one of them, and torch's random state for the dropout masks. Everything is tiny, because a
resume property trains the same run twice.

:func:`crash_inside_save` simulates a crash in the middle of a write: inside the property,
``torch.save`` writes the first part of the real file to its target and raises.
:class:`CodeInPickle`, :func:`environment` and :func:`system_tempdir` set up the pinned checks
that a load never unpickles code and that the temporary file is not made in the system's
temporary folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import torch
from hypothesis import strategies as st
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from pytest_mlbugs import devices
from pytest_mlbugs.strategies.tensors import generator, normal, seeds


@dataclasses.dataclass(frozen=True)
class CheckpointCase:
    #: steps trained before the checkpoint is written (at least 1: Adam then has moments)
    steps_before: int
    #: steps trained after it
    steps_after: int
    batch: int
    #: how much of the file a crashed write gets out, in percent
    cut_percent: int
    seed: int


def checkpoint_cases(*, max_steps: int = 3, max_batch: int = 4) -> st.SearchStrategy[CheckpointCase]:
    if max_steps < 1 or max_batch < 2:
        raise ValueError(f"need max_steps >= 1 and max_batch >= 2, got {max_steps}, {max_batch}")
    return st.builds(
        CheckpointCase,
        steps_before=st.integers(1, max_steps),
        steps_after=st.integers(1, max_steps),
        batch=st.integers(2, max_batch),
        cut_percent=st.sampled_from((0, 1, 50, 99, 100)),
        seed=seeds(),
    )


@dataclasses.dataclass
class Run:
    """A model, its optimizer and its scheduler."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    #: ``None`` for a run without a scheduler (contract 23's default)
    scheduler: LambdaLR | None


def make_run(seed: int, *, scheduler: bool = True) -> Run:
    """``Linear -> BatchNorm1d -> ReLU -> Dropout(0.5) -> Linear`` initialized from ``seed``,
    in train mode, with Adam and (unless ``scheduler=False``) a decaying ``LambdaLR``."""
    torch.manual_seed(seed)
    model = devices.put(
        nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4, 2))
    ).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    decay = LambdaLR(optimizer, lambda step: 1.0 / (1 + step)) if scheduler else None
    return Run(model, optimizer, decay)


def make_batches(case: CheckpointCase) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = generator(case.seed + 1)
    return [
        (devices.put(normal(gen, (case.batch, 3))), devices.put(normal(gen, (case.batch, 2))))
        for _ in range(case.steps_before + case.steps_after)
    ]


def train_step(run: Run, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
    run.optimizer.zero_grad()
    inputs, targets = batch
    nn.functional.mse_loss(run.model(inputs), targets).backward()
    run.optimizer.step()
    if run.scheduler is not None:
        run.scheduler.step()


def same_accelerator_randomness(seed: int) -> None:
    """On CUDA, dropout draws from the CUDA generator, which contract 23 does not save (only
    torch's CPU random state): both runs get the same CUDA state from here on. Nothing on the
    CPU, where the checkpoint's random state alone decides the dropout masks."""
    if devices.current().type == "cuda":
        torch.cuda.manual_seed_all(seed)


def state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


class SimulatedCrash(Exception):
    """Raised by :func:`crash_inside_save` in the middle of a write."""


@dataclasses.dataclass
class CrashRecord:
    #: how many times the crashing ``torch.save`` was called
    calls: int = 0


@contextlib.contextmanager
def crash_inside_save(impl: Any, cut_percent: int) -> Iterator[CrashRecord]:
    """Within the block, ``torch.save`` serializes its object, writes the first
    ``cut_percent`` % of the bytes to its target (a path or a file object) and raises
    :class:`SimulatedCrash`, as a process killed during the write would leave it. The
    implementation's own module-level alias of ``torch.save`` is patched too; all is restored
    on exit."""
    original = torch.save
    record = CrashRecord()

    def crashing_save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        record.calls += 1
        buffer = io.BytesIO()
        original(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        part = data[: len(data) * cut_percent // 100]
        if isinstance(f, (str, os.PathLike)):
            with open(f, "wb") as handle:
                handle.write(part)
        else:
            f.write(part)
            f.flush()
        raise SimulatedCrash(f"simulated crash after {len(part)} of {len(data)} bytes")

    aliases = [name for name, value in vars(impl).items() if value is original]
    patched = [(torch, "save"), (torch.serialization, "save")] + [(impl, name) for name in aliases]
    for owner, name in patched:
        setattr(owner, name, crashing_save)
    try:
        yield record
    finally:
        for owner, name in patched:
            setattr(owner, name, original)


def tensors_in(value: Any) -> list[torch.Tensor]:
    """Every tensor in a nest of dicts, lists and tuples."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for item in value.values() for t in tensors_in(item)]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in tensors_in(item)]
    return []


class CodeInPickle:
    """An object whose unpickling runs code: ``pickle`` calls ``os.mkdir(marker)`` to rebuild
    it (nothing else happens). ``torch.load(..., weights_only=True)`` refuses it before that
    call; a load that unpickles arbitrary objects creates the marker folder."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.mkdir, (self.marker,)


@contextlib.contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Within the block, each named environment variable is set (``None``: unset); all are
    restored on exit."""

    def put(settings: dict[str, str | None]) -> None:
        for name, value in settings.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    saved = {name: os.environ.get(name) for name in values}
    try:
        put(values)
        yield
    finally:
        put(saved)


@contextlib.contextmanager
def system_tempdir(folder: str) -> Iterator[None]:
    """Within the block, ``tempfile.gettempdir()`` is ``folder`` (which need not exist), as on
    a machine whose temporary folder is elsewhere; the previous setting is restored on exit."""
    saved = tempfile.tempdir
    tempfile.tempdir = folder
    try:
        yield
    finally:
        tempfile.tempdir = saved
