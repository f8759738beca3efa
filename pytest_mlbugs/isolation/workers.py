"""Reused forked workers: pay for the fork once per worker, not once per verdict.

A fork of the warm pytest process (torch, Hypothesis and the suites imported) costs more than
judging a variant does: on a 2-core VM about 11 ms for the ``fork`` call alone, then the
copy-on-write faults of a fresh child. So ``--mlbugs-isolation=worker`` (the default) forks a
worker that judges one variant after another:

- The worker is set up like a one-shot child (:func:`pytest_mlbugs.isolation.sandbox.enter_scratch`: its
  own scratch folder, memory limit, write confinement) and dies with its parent.
- Jobs are the closures the parent registered (:func:`register_job`) *before* it forked the
  worker, so the worker already holds them: the parent only writes a job's number down a pipe.
- After every job the worker removes the variant's in-memory module and compares its state with
  the :class:`Fingerprint` it took before its first job. At the first difference it says which,
  sends its verdict and exits; the next job gets a fresh worker. A variant that raised
  ``SystemExit``/``KeyboardInterrupt`` retires its worker too, and no worker serves more than
  :data:`MAX_JOBS_PER_WORKER` jobs.
- A job that outlives its time limit gets its worker killed (``timeout``); a worker that dies
  without an answer gives ``error`` (crashed), as a one-shot child would.

What the fingerprint covers is listed in :meth:`Fingerprint.take`; docs/isolation.md has the
whole model, and ``--mlbugs-isolation=fork`` keeps a fresh child per verdict for code that may
change what no fingerprint sees.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import ctypes
import dataclasses
import itertools
import json
import linecache
import os
import select
import shutil
import signal
import struct
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Any

from pytest_mlbugs.isolation.child import Job, become_verdict_child, crash_verdict, fork_quietly
from pytest_mlbugs.isolation.fingerprint import Fingerprint
from pytest_mlbugs.isolation.sandbox import new_scratch
from pytest_mlbugs.isolation.torchstate import torch_state_guard
from pytest_mlbugs.verdict import Status, Verdict, first_line

#: a worker retires after this many jobs even when every fingerprint matched
MAX_JOBS_PER_WORKER = 500
#: idle workers kept for the next jobs (two cores: the current verdict and the prefetched one)
MAX_IDLE_WORKERS = 2

_KEY = struct.Struct("!Q")
_LENGTH = struct.Struct("!I")
_PR_SET_PDEATHSIG = 1

# ---------------------------------------------------------------------------------------------
# jobs the parent registered before forking

_jobs: dict[int, Job] = {}
_keys = itertools.count(1)


def register_job(job: Job) -> int:
    """Give ``job`` a number that workers forked from now on can run."""
    key = next(_keys)
    _jobs[key] = job
    return key


def forget_job(key: int) -> None:
    _jobs.pop(key, None)


def _forget_in_memory_modules(before: set[str]) -> None:
    """Drop the modules a job compiled from memory (:func:`loader.load_source`), and their
    source lines; a module imported from disk stays, and the fingerprint sees it."""
    for name in set(sys.modules) - before:
        module = sys.modules.get(name)
        if isinstance(module, types.ModuleType) and getattr(module, "__spec__", None) is None:
            del sys.modules[name]
            filename = getattr(module, "__file__", None)
            if isinstance(filename, str):
                linecache.cache.pop(filename, None)


# ---------------------------------------------------------------------------------------------
# the worker


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _read_exactly(fd: int, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _serve(commands: int, answers: int, scratch: Path) -> None:
    """The body of a worker; never returns."""
    status = 70
    try:
        _die_with_parent()
        become_verdict_child(scratch)
        baseline: Fingerprint | None = None
        for served in itertools.count(1):
            raw = _read_exactly(commands, _KEY.size)
            if raw is None:  # the parent closed the pipe: no more work
                status = 0
                break
            (key,) = _KEY.unpack(raw)
            if baseline is None:
                baseline = Fingerprint.take(scratch)
            started = time.perf_counter()
            modules = set(sys.modules)
            retire: str | None = None
            job = _jobs.get(key)
            try:
                if job is None:
                    raise RuntimeError(f"job {key} was registered after this worker started")
                with torch_state_guard():
                    verdict = job()
            except BaseException as exc:  # SystemExit, KeyboardInterrupt from a variant
                verdict = Verdict(Status.ERROR, 0.0, [], f"the variant raised {first_line(exc)}")
                retire = f"the variant raised {type(exc).__name__}"
            _forget_in_memory_modules(modules)
            if retire is None:
                retire = baseline.difference(Fingerprint.take(scratch))
            if retire is None and served >= MAX_JOBS_PER_WORKER:
                retire = f"it served {served} jobs"
            verdict.seconds = time.perf_counter() - started
            message = json.dumps({"verdict": verdict.to_json(), "retire": retire}).encode()
            os.write(answers, _LENGTH.pack(len(message)) + message)
            if retire is not None:
                status = 0
                break
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        os._exit(status)


@dataclasses.dataclass
class _Worker:
    pid: int
    commands: int
    answers: int
    scratch: Path
    #: the newest job this worker holds
    newest_job: int
    #: the seconds the fork took, charged to the worker's first verdict
    fork_seconds: float
    buffer: bytes = b""
    #: set once the worker is reaped after a kill
    wait_status: int | None = None

    @classmethod
    def fork(cls) -> _Worker:
        scratch = new_scratch()
        command_read, command_write = os.pipe()
        answer_read, answer_write = os.pipe()
        started = time.perf_counter()
        pid = fork_quietly()
        if pid == 0:
            os.close(command_write)
            os.close(answer_read)
            for other in _pool.live:  # the parent's pipes to other workers are not ours
                for fd in (other.commands, other.answers):
                    with contextlib.suppress(OSError):
                        os.close(fd)
            _serve(command_read, answer_write, scratch)
        os.close(command_read)
        os.close(answer_write)
        seconds = time.perf_counter() - started
        worker = cls(pid, command_write, answer_read, scratch, max(_jobs, default=0), seconds)
        _pool.live.append(worker)
        return worker

    def _close_pipes(self) -> None:
        for fd in (self.commands, self.answers):
            with contextlib.suppress(OSError):
                os.close(fd)
        with contextlib.suppress(ValueError):
            _pool.live.remove(self)

    def close(self) -> None:
        """Let a worker finish: it exits when its command pipe closes (or has exited already)."""
        self._close_pipes()
        _pool.reap_later(self)

    def kill(self) -> int:
        """Kill the worker now (again: a no-op); its wait status."""
        if self.wait_status is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._close_pipes()
            _, self.wait_status = os.waitpid(self.pid, 0)
            shutil.rmtree(self.scratch, ignore_errors=True)
        return self.wait_status


class _Pool:
    def __init__(self) -> None:
        #: every worker whose pipes this process holds
        self.live: list[_Worker] = []
        self.idle: list[_Worker] = []
        self.exiting: list[_Worker] = []
        #: workers forked, jobs answered, and why workers retired (for the summary and benchmarks)
        self.forked = 0
        self.answered = 0
        self.retired: collections.Counter[str] = collections.Counter()

    def worker_for(self, key: int) -> tuple[_Worker, float]:
        """An idle worker that holds job ``key``, or a fresh one; and the fork seconds to charge."""
        for worker in self.idle:
            if worker.newest_job >= key:
                self.idle.remove(worker)
                return worker, 0.0
        worker = _Worker.fork()
        self.forked += 1
        return worker, worker.fork_seconds

    def give_back(self, worker: _Worker) -> None:
        self.idle.append(worker)
        while len(self.idle) > MAX_IDLE_WORKERS:
            self.idle.pop(0).close()

    def reap_later(self, worker: _Worker) -> None:
        self.exiting.append(worker)
        self.reap()

    def reap(self, *, block: bool = False) -> None:
        for worker in list(self.exiting):
            with contextlib.suppress(ChildProcessError):
                pid, _ = os.waitpid(worker.pid, 0 if block else os.WNOHANG)
                if pid == 0:
                    continue
            self.exiting.remove(worker)
            shutil.rmtree(worker.scratch, ignore_errors=True)

    def shut_down(self) -> None:
        while self.idle:
            self.idle.pop().close()
        self.reap(block=True)


_pool = _Pool()
atexit.register(_pool.shut_down)


def shut_down() -> None:
    """Let every idle worker exit and wait for them (the end of a session)."""
    _pool.shut_down()


class Lease:
    """One job running in a worker; :meth:`wait` gives its verdict."""

    def __init__(self, key: int) -> None:
        self.key = key
        while True:
            self.worker, self.fork_seconds = _pool.worker_for(key)
            try:
                os.write(self.worker.commands, _KEY.pack(key))
                break
            except BrokenPipeError:
                if self.fork_seconds:  # a fresh worker died at once: wait() reports the crash
                    break
                self.worker.kill()  # an idle worker died (killed from outside): take another
        self.started = time.perf_counter() - self.fork_seconds

    def _answer(self, deadline: float) -> dict[str, Any] | bool | None:
        """The worker's answer; ``None`` at EOF, ``False`` past the deadline."""
        worker = self.worker
        while True:
            if len(worker.buffer) >= _LENGTH.size:
                (size,) = _LENGTH.unpack(worker.buffer[: _LENGTH.size])
                if len(worker.buffer) >= _LENGTH.size + size:
                    message = worker.buffer[_LENGTH.size : _LENGTH.size + size]
                    worker.buffer = worker.buffer[_LENGTH.size + size :]
                    answer: dict[str, Any] = json.loads(message)
                    return answer
            remaining = max(0.0, deadline - time.perf_counter())
            ready, _, _ = select.select([worker.answers], [], [], remaining)
            if not ready:
                return False
            chunk = os.read(worker.answers, 1 << 16)
            if not chunk:
                return None
            worker.buffer += chunk

    def wait(self, timeout: float) -> Verdict:
        try:
            answer = self._answer(self.started + timeout)
        except BaseException:
            self.worker.kill()
            raise
        elapsed = time.perf_counter() - self.started
        if answer is False:
            self.worker.kill()
            return Verdict(
                Status.TIMEOUT, elapsed, [], f"no verdict within {timeout:g} s; the worker was killed"
            )
        if answer is None:
            return crash_verdict(self.worker.kill(), elapsed)
        assert isinstance(answer, dict)
        verdict = Verdict.from_json(answer["verdict"])
        verdict.seconds += self.fork_seconds
        _pool.answered += 1
        retire = answer.get("retire")
        if retire is None:
            _pool.give_back(self.worker)
        else:
            _pool.retired[str(retire)] += 1
            self.worker.close()
        return verdict

    def cancel(self) -> None:
        self.worker.kill()


def statistics() -> dict[str, Any]:
    """Workers forked, jobs they answered, and why workers retired, in this process."""
    return {"forked": _pool.forked, "answered": _pool.answered, "retired": dict(_pool.retired)}
