"""A verdict that may already be computing elsewhere: the one way every mode runs a job.

``isolation`` says where: ``"worker"`` in a reused forked worker (:mod:`.workers`), ``"fork"``
in a child forked for the job alone (:class:`.child.Child`), ``"none"`` (or no ``fork`` on this
platform) in this process under a timer (:func:`.child.run_in_process`).
"""

from __future__ import annotations

from pytest_mlbugs.isolation import workers
from pytest_mlbugs.isolation.child import Child, Job, fork_available, run_in_process
from pytest_mlbugs.verdict import Status, Verdict

#: ``--mlbugs-isolation`` values: reused forked workers, a fresh fork per verdict, in-process
ISOLATIONS = ("worker", "fork", "none")


def run_isolated(job: Job, *, timeout: float, isolation: str) -> Verdict:
    """Run ``job`` under ``isolation`` and wait for its verdict."""
    return PendingVerdict(job, timeout=timeout, isolation=isolation).result()


class PendingVerdict:
    """A verdict that may already be computing in a forked process.

    :meth:`start` hands the job to a forked process at once, so that the session can judge the
    next variant while the current one finishes (two cores, two children); :meth:`result` waits
    for it. ``isolation="worker"`` registers the job now, because a worker runs only the jobs
    that existed when it was forked: build every pending verdict of a session before the first
    starts. The time limit counts from the start.
    """

    def __init__(self, job: Job, *, timeout: float, isolation: str) -> None:
        if isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {ISOLATIONS}, got {isolation!r}")
        self.job = job
        self.timeout = timeout
        self.isolation = isolation if fork_available() else "none"
        self._child: Child | None = None
        self._lease: workers.Lease | None = None
        self._verdict: Verdict | None = None
        self._key = workers.register_job(job) if self.isolation == "worker" else 0

    @property
    def forked(self) -> bool:
        return self.isolation != "none"

    def start(self) -> None:
        if self._verdict is not None or self._child is not None or self._lease is not None:
            return
        if self.isolation == "worker":
            self._lease = workers.Lease(self._key)
        elif self.isolation == "fork":
            self._child = Child.fork(self.job)

    def result(self) -> Verdict:
        if self._verdict is None:
            if self.forked:
                self.start()
                waiting = self._lease if self._lease is not None else self._child
                assert waiting is not None
                self._verdict = waiting.wait(self.timeout)
            else:
                self._verdict = run_in_process(self.job, timeout=self.timeout)
            self._forget()
        return self._verdict

    def _forget(self) -> None:
        if self._key:
            workers.forget_job(self._key)

    def cancel(self) -> None:
        """Kill a process whose verdict nobody will ask for (the session stopped early)."""
        if self._verdict is not None:
            return
        if self._lease is not None:
            self._lease.cancel()
        elif self._child is not None:
            self._child.cancel()
        else:
            return
        self._verdict = Verdict(Status.ERROR, 0.0, [], "cancelled: the session ended first")
        self._forget()
