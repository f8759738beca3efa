"""How a job runs: where (a reused worker, a forked child, this process) and within what limits.

A *job* is a zero-argument function that returns a :class:`~pytest_mlbugs.verdict.Verdict`
(judging a variant, a mutant, an exercise). This package runs it and guards everything around
it; it knows nothing of what the job judges, and depends only on the verdict model.

- :mod:`.pending`: :class:`PendingVerdict` and :func:`run_isolated`, the one entry point.
- :mod:`.workers`: reused forked workers that retire at the first change of state
  (:mod:`.fingerprint`).
- :mod:`.child`: a child forked for one job; a job in-process under a timer.
- :mod:`.sandbox`: scratch folders, memory caps, Landlock write confinement, alarms, Hypothesis'
  private storage.
- :mod:`.torchstate`: torch's global switches and RNG, restored however a job leaves them.

``docs/isolation.md`` tells what each mode contains and what it does not.
"""

from __future__ import annotations

from pytest_mlbugs.isolation.child import fork_available
from pytest_mlbugs.isolation.pending import ISOLATIONS, PendingVerdict, run_isolated
from pytest_mlbugs.isolation.sandbox import (
    DEFAULT_MEMORY_LIMIT_MIB,
    set_child_memory_limit,
    write_sandbox_available,
)
from pytest_mlbugs.isolation.torchstate import torch_state_guard
from pytest_mlbugs.isolation.workers import shut_down as shut_down_workers
from pytest_mlbugs.isolation.workers import statistics as worker_statistics

__all__ = [
    "DEFAULT_MEMORY_LIMIT_MIB",
    "ISOLATIONS",
    "PendingVerdict",
    "fork_available",
    "run_isolated",
    "set_child_memory_limit",
    "shut_down_workers",
    "torch_state_guard",
    "worker_statistics",
    "write_sandbox_available",
]
