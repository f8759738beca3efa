"""Reused workers: a worker serves job after job, and retires at the first change a job leaves.

Each test makes its jobs before the first starts (a worker runs the jobs that existed when it was
forked), then checks from a probe job, with its own eyes and not the worker's fingerprint, that
the state the next job starts in is the pristine state of a fresh fork.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable

import pytest
import torch

from pytest_mlbugs.isolation import PendingVerdict, workers
from pytest_mlbugs.verdict import Status, Verdict

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="workers are forked")

ORIGINALS = {
    "softmax": torch.softmax,
    "F.softmax": torch.nn.functional.softmax,
    "Tensor.add": torch.Tensor.add,
    "Module.__call__": torch.nn.Module.__call__,
}


def observe() -> dict[str, object]:
    """What a job sees of the state a variant could have changed."""
    return {
        "grad": torch.is_grad_enabled(),
        "dtype": str(torch.get_default_dtype()),
        "device": str(torch.get_default_device()),
        "threads": torch.get_num_threads(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
        "anomaly": torch.is_anomaly_enabled(),
        "precision": torch.get_float32_matmul_precision(),
        "rng": torch.random.get_rng_state()[:64].tolist(),
        "python threads": threading.active_count(),
        "tasks": len(os.listdir("/proc/self/task")),
        "cwd files": sorted(os.listdir(".")),
        "env": os.environ.get("MLBUGS_TEST_LEAK"),
        "sys.path": sys.path[-1],
        "originals": [obj is ORIGINALS[name] for name, obj in _current().items()],
        "warnings": len(warnings.filters),
        "sigusr1": str(signal.getsignal(signal.SIGUSR1)),
        "recursion": sys.getrecursionlimit(),
        "forward hooks": len(torch.nn.modules.module._global_forward_hooks),
        "json module": "xml.dom.minidom" in sys.modules,
    }


def _current() -> dict[str, object]:
    return {
        "softmax": torch.softmax,
        "F.softmax": torch.nn.functional.softmax,
        "Tensor.add": torch.Tensor.add,
        "Module.__call__": torch.nn.Module.__call__,
    }


def probe() -> Verdict:
    return Verdict(Status.SURVIVED, 0.0, [], json.dumps(observe()))


def doing(change: Callable[[], object]) -> Callable[[], Verdict]:
    def job() -> Verdict:
        change()
        return Verdict(Status.DETECTED, 0.0)

    return job


def _sleep_forever() -> None:
    threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()


#: a change a variant might make -> the words the worker's retirement gives for it (None: the
#: worker's guard undoes it, no retirement needed)
CHANGES: dict[str, tuple[Callable[[], object], str | None]] = {
    "grad off": (lambda: torch.set_grad_enabled(False), None),
    "float64 default": (lambda: torch.set_default_dtype(torch.float64), None),
    "manual_seed": (lambda: torch.manual_seed(0), None),
    "threads": (lambda: torch.set_num_threads(3), None),
    "python random": (lambda: random.seed(0), "Python's random state"),
    "a thread": (_sleep_forever, "threads"),
    "a file in the scratch folder": (lambda: open("left_behind.txt", "w").close(), "scratch folder"),
    "an environment variable": (lambda: os.environ.update(MLBUGS_TEST_LEAK="1"), "environment"),
    "sys.path": (lambda: sys.path.append("/nowhere"), "sys.path"),
    "torch.softmax rebound": (lambda: setattr(torch, "softmax", lambda *a, **k: None), "torch's functions"),
    "F.softmax rebound": (
        lambda: setattr(torch.nn.functional, "softmax", lambda *a, **k: None),
        "torch's functions",
    ),
    "Tensor.add patched": (lambda: setattr(torch.Tensor, "add", lambda *a, **k: None), "torch's classes"),
    "Module.__call__ patched": (
        lambda: setattr(torch.nn.Module, "__call__", lambda *a, **k: None),
        "torch's classes",
    ),
    "a warning filter": (lambda: warnings.simplefilter("ignore"), "warning filters"),
    "a signal handler": (lambda: signal.signal(signal.SIGUSR1, signal.SIG_IGN), "signal handlers"),
    "recursion limit": (lambda: sys.setrecursionlimit(50_000), "interpreter settings"),
    "a global forward hook": (
        lambda: torch.nn.modules.module.register_module_forward_hook(lambda *a: None),
        "torch's global state",
    ),
    "a new import": (lambda: __import__("xml.dom.minidom"), "imported modules"),
}


@pytest.fixture(scope="module")
def pristine() -> dict[str, object]:
    """What a job sees in a fresh fork (a one-shot child)."""
    verdict = PendingVerdict(probe, timeout=60, isolation="fork").result()
    assert verdict.status == Status.SURVIVED, verdict
    return json.loads(verdict.detail)


def test_a_worker_serves_many_jobs_from_one_fork():
    before = workers.statistics()
    pending = [PendingVerdict(probe, timeout=60, isolation="worker") for _ in range(20)]
    verdicts = [p.result() for p in pending]
    after = workers.statistics()
    assert all(v.status == Status.SURVIVED for v in verdicts), verdicts
    assert after["answered"] - before["answered"] == 20
    assert after["forked"] - before["forked"] <= 2
    assert all(json.loads(v.detail) == json.loads(verdicts[0].detail) for v in verdicts)


@pytest.mark.parametrize("change", list(CHANGES))
def test_the_job_after_a_change_starts_on_the_state_of_a_fresh_fork(change, pristine):
    action, reason = CHANGES[change]
    before = workers.statistics()["retired"]
    # torch's generator is this process' own at the moment the worker forks (Python's ``random``
    # is reseeded in every child by the interpreter itself, so it is not compared)
    expected = {**pristine, "rng": observe()["rng"]}
    first, second, third = (
        PendingVerdict(doing(action), timeout=60, isolation="worker"),
        PendingVerdict(probe, timeout=60, isolation="worker"),
        PendingVerdict(probe, timeout=60, isolation="worker"),
    )
    assert first.result().status == Status.DETECTED
    for one in (second, third):
        verdict = one.result()
        assert verdict.status == Status.SURVIVED, verdict
        assert json.loads(verdict.detail) == expected, change
    retired = workers.statistics()["retired"]
    new = [text for text, count in retired.items() if count > before.get(text, 0)]
    if reason is None:
        assert not new, new
    else:
        assert len(new) == 1 and reason in new[0], new


@pytest.mark.parametrize(
    ("job", "status", "words"),
    [
        (lambda: time.sleep(3600), Status.TIMEOUT, "no verdict within"),
        (lambda: os._exit(0), Status.ERROR, "exited with status 0"),
        (lambda: sys.exit(2), Status.ERROR, "the variant raised SystemExit"),
        (lambda: os.kill(os.getpid(), signal.SIGSEGV), Status.ERROR, "SIGSEGV"),
    ],
    ids=["hang", "os._exit", "sys.exit", "segfault"],
)
def test_a_worker_that_hangs_or_dies_gives_its_verdict_and_the_next_job_a_fresh_worker(job, status, words):
    hostile = PendingVerdict(lambda: job() or Verdict(Status.SURVIVED, 0.0), timeout=1.5, isolation="worker")
    after = PendingVerdict(probe, timeout=60, isolation="worker")
    verdict = hostile.result()
    assert verdict.status == status and words in verdict.detail, verdict
    assert verdict.seconds < 10
    assert after.result().status == Status.SURVIVED


def test_a_job_made_after_a_worker_started_gets_a_worker_that_holds_it():
    early = PendingVerdict(probe, timeout=60, isolation="worker")
    assert early.result().status == Status.SURVIVED
    late = PendingVerdict(probe, timeout=60, isolation="worker")
    assert late.result().status == Status.SURVIVED


def test_cancelling_a_started_job_kills_its_worker_and_leaves_no_child():
    pending = PendingVerdict(lambda: time.sleep(3600) or probe(), timeout=60, isolation="worker")
    pending.start()
    pid = pending._lease.worker.pid
    pending.cancel()
    assert pending.result().status == Status.ERROR
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_a_job_interrupted_while_waiting_can_still_be_cancelled():
    """Ctrl-C while the parent waits kills the worker; the session's clean-up then cancels the
    same job again without tripping over the reaped worker."""
    pending = PendingVerdict(lambda: time.sleep(3600) or probe(), timeout=60, isolation="worker")
    pending.start()
    previous = signal.signal(signal.SIGALRM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        with pytest.raises(KeyboardInterrupt):
            pending.result()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    pending.cancel()
    assert pending.result().status == Status.ERROR
