"""A job in a forked child of its own, or in this process under a timer.

The pytest process imports torch, Hypothesis and the suites once; a child forked from it
(copy-on-write, nothing imported again) compiles the variant in memory, runs the job and sends a
small JSON verdict through a pipe, then leaves with ``os._exit``: whatever the variant did to
global state dies with it. A child that outlives its limit is killed (``timeout``); one that dies
or exits without a verdict is an ``error`` (crashed). Where ``fork`` does not exist, or with
``--mlbugs-isolation=none``, :func:`run_in_process` runs the job here under a timer, the torch
state guard and the memory cap.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import select
import shutil
import signal
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from pytest_mlbugs.isolation.sandbox import alarm, enter_scratch, memory_cap_in_process, new_scratch
from pytest_mlbugs.isolation.torchstate import torch_state_guard
from pytest_mlbugs.verdict import Status, Verdict, first_line

Job = Callable[[], Verdict]


def fork_available() -> bool:
    return hasattr(os, "fork") and sys.platform != "win32"


def fork_quietly() -> int:
    """``os.fork()``. Python 3.12+ warns about forking a threaded process (xdist's worker is
    one); our children touch no lock another thread could hold: they compute, write, _exit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def become_verdict_child(scratch: Path) -> None:
    """In a freshly forked child or worker: silent, one torch thread, in ``scratch``, limited."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    torch.set_num_threads(1)  # the parent's OpenMP pool does not survive fork
    # pytest's faulthandler writes to its own copy of the terminal: a crash is a verdict here
    faulthandler.disable()
    enter_scratch(scratch)


def crash_verdict(wait_status: int, elapsed: float) -> Verdict:
    """The verdict on a child that ended without giving one."""
    if os.WIFSIGNALED(wait_status):
        signum = os.WTERMSIG(wait_status)
        name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else str(signum)
        return Verdict(Status.ERROR, elapsed, [], f"crashed: the child died of {name}")
    return Verdict(
        Status.ERROR,
        elapsed,
        [],
        f"crashed: the child exited with status {os.WEXITSTATUS(wait_status)} before a verdict",
    )


def _serve_once(job: Job, write_fd: int, scratch: Path) -> None:
    """The body of a forked child; never returns (``os._exit``: threads the variant started,
    daemon or not, cannot keep it alive)."""
    status = 70
    try:
        become_verdict_child(scratch)
        try:
            verdict = job()
        except BaseException as exc:
            verdict = Verdict(Status.ERROR, 0.0, [], f"the variant raised {first_line(exc)}")
        payload = json.dumps(verdict.to_json()).encode()
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(payload)
        status = 0
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        os._exit(status)


class Child:
    """One job in a child forked for it alone; :meth:`wait` gives its verdict."""

    def __init__(self, pid: int, read_fd: int, started: float, fork_seconds: float, scratch: Path) -> None:
        self.pid = pid
        self.read_fd = read_fd
        self.started = started
        self.fork_seconds = fork_seconds
        self.scratch = scratch

    @classmethod
    def fork(cls, job: Job) -> Child:
        scratch = new_scratch()
        read_fd, write_fd = os.pipe()
        started = time.perf_counter()
        pid = fork_quietly()
        if pid == 0:
            os.close(read_fd)
            _serve_once(job, write_fd, scratch)
        os.close(write_fd)
        return cls(pid, read_fd, started, time.perf_counter() - started, scratch)

    def _read_until_eof(self, deadline: float) -> tuple[list[bytes], bool]:
        chunks: list[bytes] = []
        while True:
            # Past the deadline, still take what the child already wrote (a late reader).
            remaining = max(0.0, deadline - time.perf_counter())
            ready, _, _ = select.select([self.read_fd], [], [], remaining)
            if not ready:
                return chunks, False
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                return chunks, True
            chunks.append(chunk)

    def wait(self, timeout: float) -> Verdict:
        # Unfinished until the child's answer is read whole: an interrupted read (Ctrl-C in
        # select) still kills, reaps and cleans up after the child.
        chunks: list[bytes] = []
        finished = False
        try:
            chunks, finished = self._read_until_eof(self.started + timeout)
        finally:
            os.close(self.read_fd)
            if not finished:
                self.kill()
            _, wait_status = os.waitpid(self.pid, 0)
            self.remove_scratch()
        elapsed = time.perf_counter() - self.started
        if not finished:
            return Verdict(
                Status.TIMEOUT, elapsed, [], f"no verdict within {timeout:g} s; the child was killed"
            )
        if chunks:
            verdict = Verdict.from_json(json.loads(b"".join(chunks)))
            # The child's own time plus the fork: not the time this verdict waited to be read.
            verdict.seconds += self.fork_seconds
            return verdict
        return crash_verdict(wait_status, elapsed)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def cancel(self) -> None:
        """Kill, reap and clean up after a child whose verdict nobody will read."""
        self.kill()
        os.close(self.read_fd)
        os.waitpid(self.pid, 0)
        self.remove_scratch()

    def remove_scratch(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)


class VariantTimeout(BaseException):
    """Raised in-process when a variant outlives its time limit (not an ``Exception``)."""


def run_in_process(job: Job, *, timeout: float) -> Verdict:
    """Run ``job`` here, under a timer, the torch state guard and the memory cap."""
    started = time.perf_counter()
    try:
        with alarm(timeout, VariantTimeout), torch_state_guard(), memory_cap_in_process():
            # as in a forked child: tiny tensors, and an OpenMP pool on a busy machine costs
            # seconds per verdict (the guard gives the thread count back)
            torch.set_num_threads(1)
            return job()
    except VariantTimeout:
        return Verdict(Status.TIMEOUT, time.perf_counter() - started, [], f"no verdict within {timeout:g} s")
    except BaseException as exc:  # SystemExit, KeyboardInterrupt from a variant
        return Verdict(
            Status.ERROR, time.perf_counter() - started, [], f"the variant raised {first_line(exc)}"
        )
