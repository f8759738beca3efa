"""The run of ``--mlbugs-target``: the user's tests, then one item per mutant.

1. **Collection.** The user's tests are collected as usual; the targets' mutants are found (half
   the mutators in a forked child started at the session's start, half here at the end of
   collection, unless pytest's cache holds them) and become
   :class:`~.items.MutantItem`s after the tests, before pytest's own selection (``-k``, ``-m``,
   ``--lf``, node IDs) runs.
2. **Clean run** (:mod:`.coverage`): the user's tests run as they always do, each under a line
   tracer limited to the targets: which test executes which target line, and how long it takes.
   Where some of them were deselected (or an xdist worker ran only its share), the clean run is
   taken from the cache or made again without output.
3. **Forced failure** (:meth:`.judge.MutantJudge.forced_failure_check`): before the first
   mutant, a mutant of each target whose every function raises must be detected.
4. **Mutants** (:mod:`.judge`): each judged in a child forked from this warm process, running
   only the tests that executed its changed lines, fastest first; the next mutants are started
   while the current one finishes. A failing test before any mutant stops every verdict.

Nothing is ever written to the user's files: mutants exist only in memory. Verdicts and mutants
are cached in pytest's cache (:mod:`.cache`). Under ``pytest -n`` the workers judge the items
xdist hands them and the controller gathers their records.
"""

from __future__ import annotations

import gc
import os
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from pytest_mlbugs import options
from pytest_mlbugs.atomicio import write_json_atomically
from pytest_mlbugs.collection import claim_node_ids, count_as_collected
from pytest_mlbugs.mutation import Mutator
from pytest_mlbugs.progress import Progress
from pytest_mlbugs.registry import Registry
from pytest_mlbugs.reports.html import INDEX, write_html
from pytest_mlbugs.show import remember, target_entry
from pytest_mlbugs.targeting.cache import TargetCache
from pytest_mlbugs.targeting.coverage import CleanRecorder, CleanRun
from pytest_mlbugs.targeting.items import MutantItem, Upcoming, mutant_items, payloads
from pytest_mlbugs.targeting.judge import MutantJudge
from pytest_mlbugs.targeting.mutants import (
    Mutant,
    TargetError,
    TargetFile,
    resolve_targets,
    sample_active,
    unknown_pragma_ids,
)
from pytest_mlbugs.targeting.options import TARGET
from pytest_mlbugs.targeting.report import build_report, summary_lines
from pytest_mlbugs.targeting.results import TargetResults


def freeze_for_children() -> None:
    """Before the mutants: what this process holds now (torch, the user's modules, the search
    for mutants) is forked into every mutant's child; left to the garbage collector, each child
    would walk it again and copy the pages it touches. Frozen, neither the children nor this
    process's exit walks it."""
    gc.collect()
    gc.freeze()


class PragmaWarning(UserWarning):
    """An ``# mlbugs: ignore[...]`` pragma names a bug ID that no mutator has."""


def warn_unknown_pragmas(files: Sequence[TargetFile], registry: Registry) -> None:
    """A warning per misspelled bug ID in a pragma (its mutant is judged regardless); under
    ``-W error`` or ``filterwarnings = error``, a usage error."""
    for target, line, message in unknown_pragma_ids(files, registry.mutators):
        try:  # shown at the pragma's line, as a warning of the user's own code is
            warnings.warn_explicit(PragmaWarning(message), PragmaWarning, str(target.path), line)
        except PragmaWarning as exc:
            raise pytest.UsageError(f"{target.display}:{line}: {exc}") from None


def publish(config: pytest.Config, settings: options.Settings, results: TargetResults) -> None:
    """The end of a run: the records in order, remembered for ``--mlbugs-show`` and ``--lf``,
    the JSON and HTML reports written."""
    results.put_in_order()
    remember(config, "target", [target_entry(f"mlbugs-target[{r['id']}]", r) for r in results.records])
    if not results.records or (settings.report is None and settings.html is None):
        return
    report = build_report(results)
    if settings.report is not None:
        write_json_atomically(settings.report, report)
    if settings.html is not None:
        write_html(report, settings.html)


class TargetSession:
    """The plugin object of target mode: collection, the clean run, the mutant items' verdicts,
    the summary and the report."""

    def __init__(
        self,
        config: pytest.Config,
        registry: Registry,
        settings: options.Settings,
        *,
        targets: Sequence[str],
        fail_under: float | None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.settings = settings
        self.targets = tuple(targets)
        # Mutants named by node ID alone: the user's tests are still collected, for the clean run
        self.only_named = bool(claim_node_ids(config)) and not config.args
        if self.only_named:
            config.args[:] = config.getini("testpaths") or [str(config.invocation_params.dir)]
        timeout_given = config.option.mlbugs_timeout is not None or bool(config.getini("mlbugs_timeout"))
        self.timeout = settings.timeout if timeout_given else None
        self.results = TargetResults(
            registry=registry,
            targets=self.targets,
            seed=settings.seed,
            count=settings.count,
            fail_under=fail_under,
            project_root=str(config.rootpath),
        )
        self.is_worker = hasattr(config, "workerinput")
        self.mutants: list[Mutant] = []
        self.user_items: list[pytest.Item] = []
        self.found_meanwhile: Callable[[], tuple[list[Mutant], list[str]]] | None = None
        self.recorder: CleanRecorder | None = None
        self.judge: MutantJudge | None = None
        self.tests_digest = ""
        self.phase_started: float | None = None
        self.progress: Progress | None = None
        self.upcoming: Upcoming | None = None

    @property
    def distributing(self) -> bool:
        """Whether this process is an xdist controller, whose workers judge the mutants."""
        return not self.is_worker and self.config.pluginmanager.getplugin("dsession") is not None

    # -- collection ------------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> str:
        """Pasteable: the targets and every option that shapes the mutants (seed, selection, count)."""
        return "mlbugs: " + " ".join([*(f"{TARGET}={t}" for t in self.targets), self.settings.header()])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if self.progress is None:  # the xdist controller: the mutants its workers collected
            mutants = sum(nodeid.startswith("mlbugs-target[") for nodeid in ids)
            self.progress = Progress(self.config, mutants, "mutants")

    def pytest_configure_node(self, node: Any) -> None:  # xdist: every worker samples our way
        node.workerinput["mlbugs_seed"] = self.settings.seed
        node.workerinput["mlbugs_selected"] = list(claim_node_ids(self.config))

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # Targets given as paths can be read now: find their mutants in a child while pytest
        # collects (a module name may need the test paths on sys.path: found after collection).
        if self.distributing:  # the files the report shows; the workers find the mutants
            self._resolve_targets()
        elif all(os.path.exists(t) for t in self.targets):
            self._resolve_targets()
            self.found_meanwhile = self._cache().find_meanwhile()

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        self.user_items = list(items)
        if not self.results.files:
            self._resolve_targets()
        if not self.is_worker:
            warn_unknown_pragmas(self.results.files, self.registry)
        if self.distributing:
            return  # the workers collect the mutant items; this process hands them out
        cache = self._cache()
        found = self.found_meanwhile() if self.found_meanwhile is not None else cache.mutants()
        self.mutants = self._sampled(*found)
        chosen = mutant_items(session, self.mutants, self._payload, claim_node_ids(config))
        self.progress = Progress(config, len(chosen), "mutants")
        count_as_collected(session, chosen)
        if self.only_named:
            items.clear()
        items.extend(chosen)
        self.tests_digest = cache.tests_digest(self.user_items)

    # -- the clean run ---------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Any:
        if isinstance(item, MutantItem):
            self._prefetch(item, nextitem)
        if isinstance(item, MutantItem) or self.judge is not None or self.distributing:
            return (yield)
        if self.recorder is None:
            self.recorder = CleanRecorder(self.results.files)
        with self.recorder.tracing(item):
            return (yield)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        users = not report.nodeid.startswith("mlbugs-target[")
        if users and (self.distributing or self.judge is None):
            if self.recorder is None:
                self.recorder = CleanRecorder(self.results.files)
            self.recorder.saw(report)
        for payload in payloads(report):
            self._receive(payload)
            if self.progress is not None:
                self.progress.advance()

    def _clean_run(self, session: pytest.Session) -> tuple[CleanRun | None, dict[str, Any]]:
        """The clean run of every collected test, and the cache of verdicts that goes with it."""
        cached = self._cache().load(self.tests_digest)
        recorder = self.recorder or CleanRecorder(self.results.files)
        clean, stopped = recorder.complete(session, self.user_items, cached.get("clean"))
        self.results.stopped = self.results.stopped or stopped
        return clean, cached.get("verdicts", {})

    def _start_mutation_phase(self, session: pytest.Session) -> None:
        """Before the first mutant: the clean run must be green, the forced failure detected."""
        self.phase_started = time.perf_counter()
        failures = self._clean_failures()
        if failures:
            self.results.stopped = (
                f"the clean run failed: {len(failures)} test(s) fail without any mutant: "
                f"{', '.join(failures)}; fix or deselect them, then run again"
            )
            return
        if session.shouldfail or session.shouldstop:
            self.results.stopped = f"the clean run stopped early ({session.shouldfail or session.shouldstop})"
            return
        clean, verdicts = self._clean_run(session)
        if clean is None:
            return
        freeze_for_children()
        self.judge = MutantJudge(
            self.config,
            self.results,
            items=self.user_items,
            clean=clean,
            verdicts=verdicts,
            timeout=self.timeout,
        )
        mutants = [item.mutant for item in session.items if isinstance(item, MutantItem)]
        failed_check = self.judge.forced_failure_check() if self.judge.needs_a_child(mutants) else None
        if failed_check is not None:
            self.results.stopped = failed_check
            pytest.exit(failed_check, returncode=pytest.ExitCode.INTERNAL_ERROR)

    # -- the mutants -----------------------------------------------------------------------------

    def _prefetch(self, item: MutantItem, nextitem: pytest.Item | None) -> None:
        """Start the item's verdict and the next mutants', one more than there are cores (verdicts
        are taken in order: a long one must not idle the other cores); an xdist worker, the next."""
        if self.judge is None and self.results.stopped is None:
            self._start_mutation_phase(item.session)
        if self.judge is None:
            return
        if self.upcoming is None:
            self.upcoming = Upcoming([] if self.is_worker else item.session.items)
        ahead = [nextitem] if self.is_worker else self.upcoming.after(item, os.cpu_count() or 1)
        for each in (item, *ahead):
            if isinstance(each, MutantItem):
                self.judge.start(each.mutant)

    def _payload(self, item: MutantItem) -> dict[str, Any]:
        payload: dict[str, Any] = {"problems": list(self.results.problems)}
        if self.judge is None:
            payload["stopped"] = self.results.stopped or "the mutation phase did not start"
            return payload
        started = time.perf_counter()
        payload["record"] = self.judge.record(item.mutant)
        self.results.judged_seconds += time.perf_counter() - started
        return payload

    def _receive(self, payload: dict[str, Any]) -> None:
        """A mutant item's payload, from this process or (on the controller) from a worker."""
        if payload.get("stopped"):
            self.results.stopped = self.results.stopped or payload["stopped"]
        for problem in payload.get("problems", []):
            self.results.problem(problem)
        record = payload.get("record")
        if isinstance(record, dict):
            if self.phase_started is None:  # the controller: the first verdict from a worker
                self.phase_started = time.perf_counter()
            self.results.add(record)
            if self.distributing:
                self.results.judged_seconds += record["seconds"]

    # -- the end ---------------------------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.judge is not None:
            self.judge.cancel()  # prefetched, then never run (-x, Ctrl-C)
            self._cache().store(self.tests_digest, self.judge.clean, self.judge.verdicts)
        if self.phase_started is not None:
            self.results.phase_seconds = time.perf_counter() - self.phase_started
        if self.is_worker:
            return
        publish(self.config, self.settings, self.results)
        session.exitstatus = self.results.exit_status(
            session.exitstatus, clean_failed=bool(self._clean_failures())
        )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        terminalreporter.section("mlbugs: mutation testing of your code")
        for line in summary_lines(self.results):
            terminalreporter.write_line(line)
        if self.settings.html is not None and self.results.records:
            terminalreporter.write_line(f"HTML report written to {self.settings.html / INDEX}")

    # -- helpers ---------------------------------------------------------------------------------

    def _clean_failures(self) -> list[str]:
        return self.recorder.failures if self.recorder is not None else []

    def _resolve_targets(self) -> None:
        try:
            self.results.files = resolve_targets(self.targets, root=self.config.rootpath, option=TARGET)
        except TargetError as exc:
            raise pytest.UsageError(str(exc)) from None

    def _selected_mutators(self) -> list[Mutator]:
        selected = [self.registry.mutators[bug_id] for bug_id in self.settings.mutators]
        if self.config.option.mlbugs_components is not None:
            wanted = set(self.settings.components)
            selected = [m for m in selected if wanted.intersection(m.components)]
        return selected

    def _cache(self) -> TargetCache:
        return TargetCache(self.config, self.results.files, self._selected_mutators())

    def _sampled(self, everything: list[Mutant], problems: list[str]) -> list[Mutant]:
        for problem in problems:
            self.results.problem(problem)
        return sample_active(everything, self.settings.count, self.settings.seed)
