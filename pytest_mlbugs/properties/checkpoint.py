"""Contract 23: ``checkpoint.save_checkpoint`` and ``checkpoint.load_checkpoint``.

The oracle is the same run without an interruption: a checkpoint loaded into a freshly built
model, optimizer and scheduler (other weights, another random state) must continue training
to exactly the same bits. Every file lives in a ``tempfile.TemporaryDirectory`` of the
property, removed when it ends: nothing is written into the user's tree.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.strategies.checkpoint import (
    CheckpointCase,
    CodeInPickle,
    SimulatedCrash,
    checkpoint_cases,
    crash_inside_save,
    environment,
    make_batches,
    make_run,
    same_accelerator_randomness,
    state_copy,
    system_tempdir,
    tensors_in,
    train_step,
)
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "checkpoint",
    names=("save_checkpoint", "load_checkpoint"),
    contract="contract 23: save_checkpoint, load_checkpoint",
)

RICH = CheckpointCase(steps_before=2, steps_after=2, batch=3, cut_percent=50, seed=1)
EMPTY_WRITE = CheckpointCase(steps_before=1, steps_after=1, batch=2, cut_percent=0, seed=2)
WHOLE_WRITE = CheckpointCase(steps_before=1, steps_after=2, batch=4, cut_percent=100, seed=3)


@contextmanager
def checkpoint_path() -> Iterator[str]:
    """A checkpoint path in a temporary folder of its own, removed with everything in it."""
    with tempfile.TemporaryDirectory(prefix="mlbugs-checkpoint-") as folder:
        yield os.path.join(folder, "checkpoint.pt")


def place_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """The loaded optimizer state on the session's device: ``load_state_dict`` already moved
    it next to its parameters on a real device (this changes nothing there); the simulated
    accelerator of the device tests cannot see that move and needs it said."""
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                state[key] = devices.put(value)


def first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def assert_same_state(actual: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], what: str) -> None:
    assert sorted(actual) == sorted(expected), f"{what}: keys {sorted(actual)}, expected {sorted(expected)}"
    differ = [name for name in expected if not torch.equal(actual[name], expected[name])]
    assert not differ, f"{what}: {differ} differ from the uninterrupted run"


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="after a restart the loss jumps or training takes another path than before the crash",
    cases=checkpoint_cases(),
    explicit=[RICH, WHOLE_WRITE],
    max_examples=4,
)
def resumed_training_equals_uninterrupted_training(impl: Any, case: CheckpointCase) -> None:
    """Training resumed from a checkpoint into a new model, Adam optimizer and scheduler
    (other weights, another random state) is not bit for bit the uninterrupted run, or the
    step comes back wrong: the weights, the buffers, the optimizer's moments, the
    scheduler's position, the step or torch's random state (dropout) is not saved and
    restored."""
    batches = make_batches(case)
    run = make_run(case.seed)
    with checkpoint_path() as path:
        for batch in batches[: case.steps_before]:
            train_step(run, batch)
        impl.save_checkpoint(path, run.model, run.optimizer, run.scheduler, step=case.steps_before)
        same_accelerator_randomness(case.seed + 3)
        for batch in batches[case.steps_before :]:
            train_step(run, batch)
        resumed = make_run(case.seed + 1)
        torch.manual_seed(case.seed + 2)  # the restart's random state is not the saved one
        step = impl.load_checkpoint(path, resumed.model, resumed.optimizer, resumed.scheduler)
    assert step == case.steps_before, f"load_checkpoint returned step {step!r}, saved at {case.steps_before}"
    place_optimizer_state(resumed.optimizer)
    same_accelerator_randomness(case.seed + 3)
    for batch in batches[step:]:
        train_step(resumed, batch)
    assert_same_state(state_copy(resumed.model), state_copy(run.model), "the resumed model")


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="a checkpoint cannot be loaded safely (weights_only=True) or loses the model's buffers",
    cases=checkpoint_cases(),
    explicit=[RICH],
    max_examples=3,
)
def the_file_loads_with_weights_only_and_holds_the_whole_state(impl: Any, case: CheckpointCase) -> None:
    """torch.load(path, weights_only=True) failed on the checkpoint, or the file lacks a tensor
    of the model's state_dict (a persistent buffer such as BatchNorm's running statistics):
    an object was pickled instead of its state_dict, or the parameters alone were saved."""
    run = make_run(case.seed)
    for batch in make_batches(case)[: case.steps_before]:
        train_step(run, batch)
    with checkpoint_path() as path:
        impl.save_checkpoint(path, run.model, run.optimizer, run.scheduler, step=case.steps_before)
        try:
            saved = torch.load(path, weights_only=True)
        except Exception as exc:
            raise AssertionError(f"torch.load(weights_only=True) failed: {str(exc).splitlines()[0]}") from exc
    assert isinstance(saved, dict), f"the file holds a {type(saved).__name__}, not a dict"
    stored = tensors_in(saved)
    missing = [
        name
        for name, value in run.model.state_dict().items()
        if not any(
            t.dtype == value.dtype and torch.equal(devices.to_cpu(t), devices.to_cpu(value)) for t in stored
        )
    ]
    assert not missing, f"the file does not hold {missing} of the model's state_dict"


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="a checkpoint written on a GPU cannot be loaded on a machine without one",
    cases=checkpoint_cases(),
    explicit=[RICH],
    max_examples=3,
)
def map_location_is_honoured(impl: Any, case: CheckpointCase) -> None:
    """load_checkpoint ignored its map_location (given here as a callable that torch.load must
    call for each stored tensor), or loaded other weights with it."""
    run = make_run(case.seed)
    for batch in make_batches(case)[: case.steps_before]:
        train_step(run, batch)
    mapped: list[str] = []

    def map_location(storage: Any, location: str) -> Any:
        mapped.append(location)
        return storage

    resumed = make_run(case.seed + 1)
    with checkpoint_path() as path:
        impl.save_checkpoint(path, run.model, run.optimizer, run.scheduler, step=case.steps_before)
        impl.load_checkpoint(
            path, resumed.model, resumed.optimizer, resumed.scheduler, map_location=map_location
        )
    assert mapped, "map_location was never called: torch.load did not get it"
    assert_same_state(state_copy(resumed.model), state_copy(run.model), "the model loaded with map_location")


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="a job killed while saving leaves a corrupt checkpoint, and the run is lost",
    cases=checkpoint_cases(),
    explicit=[RICH, EMPTY_WRITE, WHOLE_WRITE],
    max_examples=5,
)
def an_interrupted_write_leaves_the_previous_checkpoint(impl: Any, case: CheckpointCase) -> None:
    """A crash inside torch.save while a new checkpoint was written (simulated: part of the file
    is written, then the write raises) left the path without the previous checkpoint: the file
    is written in place instead of to a temporary file that replaces it when complete."""
    run = make_run(case.seed)
    batches = make_batches(case)
    train_step(run, batches[0])
    expected = state_copy(run.model)
    with checkpoint_path() as path:
        impl.save_checkpoint(path, run.model, run.optimizer, run.scheduler, step=1)
        train_step(run, batches[1])
        with crash_inside_save(impl, case.cut_percent) as record:
            try:
                impl.save_checkpoint(path, run.model, run.optimizer, run.scheduler, step=2)
            except SimulatedCrash:
                pass
        assert record.calls, "save_checkpoint did not write through torch.save"
        resumed = make_run(case.seed + 1)
        try:
            step = impl.load_checkpoint(path, resumed.model, resumed.optimizer, resumed.scheduler)
        except Exception as exc:
            raise AssertionError(
                f"after a crash {case.cut_percent} % into the write the previous checkpoint no longer "
                f"loads: {first_line(exc)}"
            ) from exc
    assert step == 1, f"after the crashed write the checkpoint holds step {step}, not the previous step 1"
    assert_same_state(state_copy(resumed.model), expected, "the model of the previous checkpoint")


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="a run without an LR scheduler cannot be checkpointed, or resumes at the wrong step",
    cases=checkpoint_cases(),
    explicit=[RICH],
    max_examples=3,
)
def a_run_without_a_scheduler_resumes_from_the_default_step(impl: Any, case: CheckpointCase) -> None:
    """save_checkpoint(path, model, optimizer) and load_checkpoint(path, model, optimizer), with
    neither a scheduler nor a step, failed, did not return step 0 (the default), or did not
    resume bit for bit: the scheduler is taken to exist, or the defaults are not the contract's."""
    batches = make_batches(case)
    run = make_run(case.seed, scheduler=False)
    with checkpoint_path() as path:
        for batch in batches[: case.steps_before]:
            train_step(run, batch)
        try:
            impl.save_checkpoint(path, run.model, run.optimizer)
        except Exception as exc:
            raise AssertionError(f"save_checkpoint without a scheduler raised {first_line(exc)}") from exc
        same_accelerator_randomness(case.seed + 3)
        for batch in batches[case.steps_before :]:
            train_step(run, batch)
        resumed = make_run(case.seed + 1, scheduler=False)
        torch.manual_seed(case.seed + 2)
        try:
            step = impl.load_checkpoint(path, resumed.model, resumed.optimizer)
        except Exception as exc:
            raise AssertionError(f"load_checkpoint without a scheduler raised {first_line(exc)}") from exc
    assert step == 0, f"load_checkpoint returned step {step!r}; save_checkpoint's default step is 0"
    place_optimizer_state(resumed.optimizer)
    same_accelerator_randomness(case.seed + 3)
    for batch in batches[case.steps_before :]:
        train_step(resumed, batch)
    assert_same_state(
        state_copy(resumed.model), state_copy(run.model), "the model resumed without a scheduler"
    )


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="saving fails wherever the checkpoint folder and /tmp are different file systems",
    cases=checkpoint_cases(),
    explicit=[WHOLE_WRITE],
    max_examples=2,
)
def the_temporary_file_is_written_next_to_the_checkpoint(impl: Any, case: CheckpointCase) -> None:
    """save_checkpoint failed, or wrote no loadable checkpoint, while the system temporary
    folder (tempfile.gettempdir()) does not exist: the temporary file of the atomic write is
    made there, and os.replace cannot move it onto the checkpoint across file systems (a tmpfs
    /tmp, a checkpoint on another disk)."""
    run = make_run(case.seed)
    train_step(run, make_batches(case)[0])
    with checkpoint_path() as path:
        elsewhere = os.path.join(os.path.dirname(path), "no-system-temporary-folder")
        with system_tempdir(elsewhere):
            try:
                impl.save_checkpoint(path, run.model, run.optimizer, run.scheduler, step=1)
            except Exception as exc:
                raise AssertionError(
                    f"save_checkpoint raised {first_line(exc)} while tempfile.gettempdir() is {elsewhere!r}"
                ) from exc
        resumed = make_run(case.seed + 1)
        step = impl.load_checkpoint(path, resumed.model, resumed.optimizer, resumed.scheduler)
    assert step == 1, f"the checkpoint holds step {step!r}, saved at 1"
    assert_same_state(state_copy(resumed.model), state_copy(run.model), "the model loaded back")


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="loading a downloaded checkpoint runs whatever code its author pickled into it",
    cases=checkpoint_cases(),
    explicit=[RICH],
    max_examples=2,
)
def loading_never_runs_code_from_the_file(impl: Any, case: CheckpointCase) -> None:
    """load_checkpoint unpickled an object whose unpickling runs code (added to a checkpoint
    written by save_checkpoint), with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 set: torch.load got
    weights_only=False, or no weights_only at all and relied on torch's default (False before
    torch 2.6 and under that variable) instead of passing weights_only=True."""
    run = make_run(case.seed)
    train_step(run, make_batches(case)[0])
    with checkpoint_path() as path:
        impl.save_checkpoint(path, run.model, run.optimizer, run.scheduler, step=1)
        saved = torch.load(path, weights_only=True)
        assert isinstance(saved, dict), f"the file holds a {type(saved).__name__}, not a dict"
        marker = os.path.join(os.path.dirname(path), "code-from-the-checkpoint-ran")
        saved["mlbugs_code"] = CodeInPickle(marker)
        torch.save(saved, path)
        resumed = make_run(case.seed + 1)
        with (
            environment(TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1", TORCH_FORCE_WEIGHTS_ONLY_LOAD=None),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")  # torch warns that the variable turns weights_only off
            try:
                impl.load_checkpoint(path, resumed.model, resumed.optimizer, resumed.scheduler)
            except Exception:  # refusing the file is what a safe load does
                pass
        ran = os.path.exists(marker)
    assert not ran, "load_checkpoint unpickled an object that ran code (os.mkdir) while the file was loaded"
