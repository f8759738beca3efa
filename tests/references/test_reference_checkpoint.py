"""Contract 23: the checkpoint reference round-trips a run exactly and survives a crash in the
middle of a write; the suite accepts other atomic patterns and rejects hand-written bugs that no
mutator writes. Every file lives in pytest's tmp_path or the suite's own temporary folders."""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import types
from pathlib import Path

import pytest
import torch

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.checkpoint import SUITE
from pytest_mlbugs.reference_impls import checkpoint as reference
from pytest_mlbugs.strategies.checkpoint import CheckpointCase, make_batches, make_run, train_step

CASE = CheckpointCase(steps_before=2, steps_after=1, batch=3, cut_percent=50, seed=4)


def test_a_round_trip_restores_every_piece_of_state(tmp_path):
    run = make_run(0)
    for batch in make_batches(CASE)[:2]:
        train_step(run, batch)
    path = tmp_path / "ckpt.pt"
    reference.save_checkpoint(str(path), run.model, run.optimizer, run.scheduler, step=2)
    expected_draw = torch.rand(3)
    other = make_run(1)
    torch.manual_seed(123)
    assert reference.load_checkpoint(str(path), other.model, other.optimizer, other.scheduler) == 2
    assert torch.equal(torch.rand(3), expected_draw)
    for name, value in run.model.state_dict().items():
        assert torch.equal(other.model.state_dict()[name], value), name
    assert other.scheduler.last_epoch == 2 and other.optimizer.state_dict()["state"][0]["step"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]  # no temporary file left
    assert isinstance(torch.load(path, weights_only=True), dict)


def test_a_crash_inside_torch_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    run = make_run(0)
    path = str(tmp_path / "ckpt.pt")
    reference.save_checkpoint(path, run.model, run.optimizer, step=7)
    original = torch.save

    def half_then_crash(obj, f):
        buffer = io.BytesIO()
        original(obj, buffer)
        Path(f).write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", half_then_crash)
    with pytest.raises(OSError, match="disk full"):
        reference.save_checkpoint(path, run.model, run.optimizer, step=8)
    monkeypatch.undo()
    assert reference.load_checkpoint(path, run.model, run.optimizer) == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]


# ---------------------------------------------------------------------------------------------
# other correct styles


def _nested_save(path, model, optimizer, scheduler=None, step=0):
    """NamedTemporaryFile written through its file object, fsync'ed, then os.replace; a nested
    layout of its own."""
    state = {
        "weights": {"model": model.state_dict(), "optimizer": optimizer.state_dict()},
        "meta": {
            "step": step,
            "scheduler": scheduler.state_dict() if scheduler else {},
            "rng": torch.get_rng_state(),
        },
    }
    with tempfile.NamedTemporaryFile(dir=os.path.dirname(os.path.abspath(path)), delete=False) as handle:
        try:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        except BaseException:
            handle.close()
            os.unlink(handle.name)
            raise
    os.replace(handle.name, path)


def _nested_load(path, model, optimizer, scheduler=None, map_location="cpu"):
    state = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(state["weights"]["model"])
    optimizer.load_state_dict(state["weights"]["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["meta"]["scheduler"])
    torch.random.set_rng_state(state["meta"]["rng"].cpu())
    return int(state["meta"]["step"])


def _bytes_save(path, model, optimizer, scheduler=None, step=0):
    """Serializes into memory first, then Path.write_bytes to a sibling and Path.replace."""
    buffer = io.BytesIO()
    torch.save(
        {
            "model_state": model.state_dict(),
            "optim_state": optimizer.state_dict(),
            "sched_state": None if scheduler is None else scheduler.state_dict(),
            "global_step": step,
            "torch_rng": torch.get_rng_state(),
        },
        buffer,
    )
    target = Path(path)
    staging = target.with_name(f".{target.name}.{os.getpid()}.partial")
    staging.write_bytes(buffer.getvalue())
    staging.replace(target)


def _bytes_load(path, model, optimizer, scheduler=None, map_location="cpu"):
    state = torch.load(Path(path), map_location=map_location, weights_only=True)
    model.load_state_dict(state["model_state"], strict=True)
    optimizer.load_state_dict(state["optim_state"])
    if scheduler is not None and state["sched_state"] is not None:
        scheduler.load_state_dict(state["sched_state"])
    torch.set_rng_state(state["torch_rng"])
    return state["global_step"]


ALTERNATIVES = {
    "reference": reference,
    "named_temporary_file": types.SimpleNamespace(save_checkpoint=_nested_save, load_checkpoint=_nested_load),
    "bytes_then_rename": types.SimpleNamespace(save_checkpoint=_bytes_save, load_checkpoint=_bytes_load),
}


@pytest.mark.parametrize("impl_name", sorted(ALTERNATIVES))
@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_every_correct_style_passes_every_property(impl_name, prop):
    assert check_property(prop, ALTERNATIVES[impl_name], seed=0) is None


# ---------------------------------------------------------------------------------------------
# hand-written bugs


def _parameters_save(path, model, optimizer, scheduler=None, step=0):
    """Saves the parameters alone (the BatchNorm statistics are lost)."""
    reference.save_checkpoint(
        path,
        types.SimpleNamespace(state_dict=lambda: dict(model.named_parameters())),
        optimizer,
        scheduler,
        step,
    )


def _lenient_load(path, model, optimizer, scheduler=None, map_location="cpu"):
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(checkpoint["model"], strict=False)
    optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    torch.set_rng_state(checkpoint["rng_state"])
    return checkpoint["step"]


def _reference_layout(model, optimizer, scheduler, step):
    """The dict that the reference writes."""
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "step": step,
        "rng_state": torch.get_rng_state(),
    }


def _backup_then_overwrite(path, model, optimizer, scheduler=None, step=0):
    """Copies the old file aside, then writes in place: the loader never looks at the copy."""
    if os.path.exists(path):
        shutil.copyfile(path, path + ".bak")
    torch.save(_reference_layout(model, optimizer, scheduler, step), path)


def _load_on_cpu_always(path, model, optimizer, scheduler=None, map_location="cpu"):
    return reference.load_checkpoint(path, model, optimizer, scheduler)


def _reseeded_load(path, model, optimizer, scheduler=None, map_location="cpu"):
    """Reseeds torch from the step instead of restoring the saved random state."""
    step = reference.load_checkpoint(path, model, optimizer, scheduler, map_location)
    torch.manual_seed(step)
    return step


def _save_in_system_tmp(path, model, optimizer, scheduler=None, step=0):
    """Atomic only where the system's temporary folder and the checkpoint share a file system."""
    handle, tmp_path = tempfile.mkstemp(suffix=".tmp")
    os.close(handle)
    torch.save(_reference_layout(model, optimizer, scheduler, step), tmp_path)
    os.replace(tmp_path, path)


def _save_needs_a_scheduler(path, model, optimizer, scheduler=None, step=0):
    if scheduler is None:
        raise AttributeError("'NoneType' object has no attribute 'state_dict'")
    reference.save_checkpoint(path, model, optimizer, scheduler, step)


def _save_from_step_one(path, model, optimizer, scheduler=None, step=1):
    reference.save_checkpoint(path, model, optimizer, scheduler, step)


def _load_with_torch_default(path, model, optimizer, scheduler=None, map_location="cpu"):
    """Leaves weights_only to torch's default, which is False before torch 2.6."""
    checkpoint = torch.load(path, map_location=map_location)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    torch.set_rng_state(checkpoint["rng_state"].cpu())
    return checkpoint["step"]


@pytest.mark.parametrize(
    "save, load, failing",
    [
        (_parameters_save, _lenient_load, "the_file_loads_with_weights_only_and_holds_the_whole_state"),
        (_parameters_save, _lenient_load, "resumed_training_equals_uninterrupted_training"),
        (
            _backup_then_overwrite,
            reference.load_checkpoint,
            "an_interrupted_write_leaves_the_previous_checkpoint",
        ),
        (reference.save_checkpoint, _load_on_cpu_always, "map_location_is_honoured"),
        (reference.save_checkpoint, _reseeded_load, "resumed_training_equals_uninterrupted_training"),
        (
            _save_in_system_tmp,
            reference.load_checkpoint,
            "the_temporary_file_is_written_next_to_the_checkpoint",
        ),
        (
            _save_needs_a_scheduler,
            reference.load_checkpoint,
            "a_run_without_a_scheduler_resumes_from_the_default_step",
        ),
        (
            _save_from_step_one,
            reference.load_checkpoint,
            "a_run_without_a_scheduler_resumes_from_the_default_step",
        ),
        (reference.save_checkpoint, _load_with_torch_default, "loading_never_runs_code_from_the_file"),
    ],
    ids=[
        "parameters_only_file",
        "parameters_only_resume",
        "backup_then_overwrite",
        "map_location",
        "reseeded",
        "system_tmp",
        "needs_a_scheduler",
        "step_one_by_default",
        "weights_only_default",
    ],
)
def test_hand_written_bugs_are_rejected(save, load, failing):
    broken = types.SimpleNamespace(save_checkpoint=save, load_checkpoint=load)
    prop = next(p for p in SUITE.properties if p.name == failing)
    assert check_property(prop, broken, seed=0) is not None


def test_the_suite_writes_only_into_its_own_temporary_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    for prop in SUITE.properties:
        assert check_property(prop, reference, seed=3) is None
    assert [p.name for p in tmp_path.iterdir()] == ["tmp"]
    assert list((tmp_path / "tmp").iterdir()) == []
