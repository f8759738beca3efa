"""Judging one mutant: a child forked from this warm process runs the user's tests against it.

The child swaps the mutated module in place (:mod:`.swap`), then runs, through pytest's own
``runtestprotocol`` (fixtures and all), only the tests that executed the changed lines, fastest
first, and stops at the first failure. A mutant that cannot be imported, or a crashed child, is
an error; only a failing test is a detection. The time limit is a fixed allowance plus a
multiple of those tests' clean times. Before any real mutant, a mutant whose every function
raises must be detected (:meth:`MutantJudge.forced_failure_check`), or no verdict here could be
trusted.
"""

from __future__ import annotations

import os
import sys
import time
import types
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from _pytest.runner import runtestprotocol
from hypothesis import settings
from hypothesis.database import InMemoryExampleDatabase

from pytest_mlbugs.isolation.pending import PendingVerdict
from pytest_mlbugs.isolation.sandbox import HYPOTHESIS_STORAGE, private_hypothesis_storage
from pytest_mlbugs.targeting.coverage import CleanRun, realpath
from pytest_mlbugs.targeting.mutants import Mutant, TargetFile, forced_failure_source
from pytest_mlbugs.targeting.results import TargetResults
from pytest_mlbugs.targeting.swap import SwapError, swap_module
from pytest_mlbugs.verdict import PropertyFailure, Status, Verdict

#: the limit of a mutant: a fixed allowance (fork, swap) plus a multiple of its tests' clean time
TIMEOUT_BASE_SECONDS = 5.0
TIMEOUT_FACTOR = 10.0
NO_COVERAGE = "no test executes the changed lines"
#: how many of the tests that detected a file's latest mutants a new mutant of it runs first
KILLERS_KEPT = 3


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = getattr(crash, "message", None) or str(report.longrepr or "")
    lines = text.strip().splitlines()
    return lines[0][:300] if lines else "failed"


#: the capture a child inherits from its parent, kept alive there and never closed (it is the
#: parent's): collected in the child, its unclosed ``/dev/null`` would warn inside the user's next
#: test, which ``filterwarnings = error`` turns into a failure: a detection the mutant never caused
_INHERITED_CAPTURE: list[Any] = []


def _child_capture(config: pytest.Config) -> None:
    """Give the child its own capture files: the parent's are shared through fork."""
    capman: Any = config.pluginmanager.getplugin("capturemanager")
    if capman is not None and getattr(capman, "_global_capturing", None) is not None:
        # pytest's capture internals, only where a capture manager is running
        from _pytest.capture import _get_multicapture

        _INHERITED_CAPTURE.append(capman._global_capturing)
        capman._global_capturing = _get_multicapture(capman._method)
        capman._global_capturing.start_capturing()


def _private_hypothesis(items: Sequence[pytest.Item]) -> None:
    """In the mutant's child: keep the user's own Hypothesis tests out of the user's tree.

    A killed mutant's failing example must not land in the user's example database (it would
    replay there forever), nor Hypothesis' caches in the project. The storage folder moves to our
    temporary space (that also moves the default database), and every database a profile or a
    test's ``@settings`` names becomes an empty in-memory one; the child is thrown away after.
    """
    HYPOTHESIS_STORAGE.mkdir(parents=True, exist_ok=True)
    private_hypothesis_storage().__enter__()  # never left: the child exits
    profile = "mlbugs-target-mutant"
    settings.register_profile(profile, parent=settings.default, database=InMemoryExampleDatabase())
    settings.load_profile(profile)
    for item in items:
        test = getattr(getattr(item, "obj", None), "__func__", getattr(item, "obj", None))
        chosen = getattr(test, "_hypothesis_internal_use_settings", None)
        if isinstance(chosen, settings) and chosen.database is not None:
            test._hypothesis_internal_use_settings = settings(chosen, database=InMemoryExampleDatabase())  # type: ignore[union-attr]


def mutant_job(
    config: pytest.Config,
    module: types.ModuleType | None,
    target: TargetFile,
    source: str,
    items: Sequence[pytest.Item],
) -> Callable[[], Verdict]:
    def job() -> Verdict:
        started = time.perf_counter()
        _child_capture(config)
        _private_hypothesis(items)
        # the same one-line failure whether forked inside a runtest hook (an xdist worker) or not:
        # pytest's assertion plugin adds its comparison details only inside the hook
        from _pytest.assertion import util as assertion_util

        assertion_util._reprcompare = assertion_util._assertion_pass = None
        if module is not None:
            try:
                swap_module(module, source, filename=str(target.path))
            except SwapError as exc:
                return Verdict(Status.ERROR, time.perf_counter() - started, [], str(exc))
        for index, item in enumerate(items):
            nextitem = items[index + 1] if index + 1 < len(items) else None
            for report in runtestprotocol(item, log=False, nextitem=nextitem):
                if report.failed:
                    failure = PropertyFailure(item.nodeid, _first_line(report), report.when or "")
                    return Verdict(Status.DETECTED, time.perf_counter() - started, [failure])
        return Verdict(Status.SURVIVED, time.perf_counter() - started, [], f"{len(items)} test(s) passed")

    return job


def target_modules(files: Sequence[TargetFile]) -> dict[str, types.ModuleType]:
    """The imported module of each target file, by its real path."""
    by_file: dict[str, types.ModuleType] = {}
    wanted = {str(t.path) for t in files}
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        if isinstance(module, types.ModuleType) and filename:
            real = realpath(filename)
            if real in wanted:
                by_file.setdefault(real, module)
    return by_file


class MutantJudge:
    """The verdicts of mutants against the tests of one clean run.

    :meth:`start` hands a mutant to a forked child at once (so that the next mutants are judged
    while the current one finishes); :meth:`record` waits for it and gives its record.
    ``verdicts`` is the verdict cache (mutant digest -> tests and verdict): a mutant whose tests
    are the same as when it was judged is not judged again.
    """

    def __init__(
        self,
        config: pytest.Config,
        results: TargetResults,
        *,
        items: Sequence[pytest.Item],
        clean: CleanRun,
        verdicts: dict[str, Any],
        timeout: float | None,
    ) -> None:
        self.config = config
        self.results = results
        self.by_id = {item.nodeid: item for item in items}
        self.clean = clean
        self.verdicts = verdicts
        #: ``--mlbugs-timeout`` when the user gave it; otherwise relative to the clean times
        self.timeout = timeout
        self.modules = target_modules(results.files)
        #: mutant ID -> its tests, and its verdict to come (``None``: a record needing no child)
        self._started: dict[str, tuple[list[str], PendingVerdict | None, dict[str, Any] | None]] = {}
        #: per file, the tests that detected its latest mutants, the latest first
        self.killers: dict[str, list[str]] = {}

    def limit(self, tests: Sequence[str]) -> float:
        if self.timeout is not None:
            return self.timeout
        return TIMEOUT_BASE_SECONDS + TIMEOUT_FACTOR * sum(self.clean.seconds.get(t, 0.0) for t in tests)

    def _pending(self, target: TargetFile, source: str, tests: Sequence[str]) -> PendingVerdict:
        module = self.modules.get(str(target.path))
        job = mutant_job(self.config, module, target, source, [self.by_id[t] for t in tests])
        return PendingVerdict(job, timeout=self.limit(tests), isolation="fork")

    def forced_failure_check(self) -> str | None:
        """Why no verdict can be trusted here, or ``None`` when the harness sees failures."""
        checks = [
            (target, tests, self._pending(target, forced_failure_source(target.source), tests))
            for target in self.results.files
            if (tests := self.clean.tests_of_file(target.display))
        ]
        covered = bool(checks)
        width = os.cpu_count() or 1
        for k, (target, tests, check) in enumerate(checks):
            for _, _, ahead in checks[k : k + width]:  # a check per core at once
                ahead.start()
            verdict = check.result()
            if verdict.status != Status.DETECTED:
                for _, _, other in checks[k + 1 :]:
                    other.cancel()
                return (
                    f"mlbugs: forced-fail check: with every function of {target.display} raising, its "
                    f"{len(tests)} test(s) were judged {verdict.status} "
                    f"({verdict.detail or 'no failure seen'}); the harness cannot see failures here, "
                    "so no verdict would be trustworthy"
                )
        if not covered:
            files = ", ".join(t.display for t in self.results.files)
            self.results.problem(f"no collected test executes any line of {files}: every mutant survives")
        return None

    def _cached(self, mutant: Mutant, tests: list[str]) -> bool:
        hit = self.verdicts.get(mutant.digest)
        # the same tests, in any order: the order is fastest first, and tests of about the same
        # time trade places from one clean run to the next; what they say of a mutant does not
        return hit is not None and sorted(hit.get("tests") or []) == sorted(tests)

    def needs_a_child(self, mutants: Sequence[Mutant]) -> bool:
        """Whether any of ``mutants`` is judged in a child (none is ignored, cached or covered by
        no test): otherwise the forced-fail check, there to trust new verdicts, has none."""
        for mutant in mutants:
            tests = [t for t in self.clean.tests_for(mutant) if t in self.by_id]
            if mutant.ignored_reason is None and tests and not self._cached(mutant, tests):
                return True
        return False

    def start(self, mutant: Mutant) -> None:
        """Start judging ``mutant`` (once): in a child, unless its verdict needs none (ignored,
        cached, no test, no module)."""
        if mutant.id in self._started:
            return
        record: dict[str, Any] | None = None
        future: PendingVerdict | None = None
        tests = [t for t in self.clean.tests_for(mutant) if t in self.by_id]
        if mutant.ignored_reason is not None:
            tests = []
            record = self.results.build_record(mutant, [], None, cached=False)
        elif self._cached(mutant, tests):
            record = self.results.build_record(
                mutant, tests, self.verdicts[mutant.digest]["verdict"], cached=True
            )
        elif not tests:
            verdict = Verdict(Status.SURVIVED, 0.0, [], NO_COVERAGE)
            record = self.results.build_record(mutant, tests, verdict.to_json(), cached=False)
        elif str(mutant.file.path) not in self.modules:
            verdict = Verdict(Status.ERROR, 0.0, [], "the target file was never imported as a module")
            record = self.results.build_record(mutant, tests, verdict.to_json(), cached=False)
        else:
            tests = self._killers_first(mutant.file.display, tests)
            future = self._pending(mutant.file, mutant.source, tests)
            future.start()
        self._started[mutant.id] = (tests, future, record)

    def _killers_first(self, display: str, tests: list[str]) -> list[str]:
        """``tests`` with those that detected the file's latest mutants first: the mutants come
        in the order of their lines, and one is most often detected by the test that detected
        its neighbour (fastest first alone runs it late when it is slow in the clean run, say
        the first to build a model on a device)."""
        covered = set(tests)
        killers = [t for t in self.killers.get(display, []) if t in covered]
        return killers + [t for t in tests if t not in killers]

    def record(self, mutant: Mutant) -> dict[str, Any]:
        """The mutant's record, once its verdict is in (started now if it was not)."""
        self.start(mutant)
        tests, future, record = self._started.pop(mutant.id)
        if record is not None:
            return record
        assert future is not None
        verdict = future.result()
        if verdict.status in (Status.DETECTED, Status.SURVIVED):
            self.verdicts[mutant.digest] = {"tests": tests, "verdict": verdict.to_json()}
        if verdict.status == Status.DETECTED and verdict.failures:
            killer = verdict.failures[0].property
            latest = self.killers.get(mutant.file.display, [])
            self.killers[mutant.file.display] = [killer, *(t for t in latest if t != killer)][:KILLERS_KEPT]
        return self.results.build_record(mutant, tests, verdict.to_json(), cached=False)

    def cancel(self) -> None:
        """Kill the children of mutants whose verdicts nobody will ask for (-x, Ctrl-C)."""
        for _, future, _ in self._started.values():
            if future is not None:
                future.cancel()
        self._started.clear()
