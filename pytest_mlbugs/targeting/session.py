"""The run of ``--mlbugs-target``: a clean run, a forced failure, then one fork per mutant.

1. **Clean run** (:mod:`.coverage`): the collected tests run once, the ordinary way (the
   terminal shows them), under a line tracer limited to the target files. A failing test stops
   everything.
2. **Forced failure** (:meth:`.judge.MutantJudge.forced_failure_check`): for each target file,
   a mutant whose every function raises must be detected by the tests that execute the file.
3. **Mutants** (:mod:`.judge`): each judged in a child forked from this warm process, running
   only the tests that executed its changed lines, fastest first.

Nothing is ever written to the user's files: mutants exist only in memory. Verdicts and mutants
are cached in pytest's cache (:mod:`.cache`). Under ``pytest -n`` the xdist workers judge the
mutants (:mod:`.distributed`) and the controller gathers their records.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest

from pytest_mlbugs import options
from pytest_mlbugs.atomicio import write_json_atomically
from pytest_mlbugs.mutation import Mutator
from pytest_mlbugs.registry import Registry
from pytest_mlbugs.reports.html import INDEX, write_html
from pytest_mlbugs.targeting.cache import TargetCache
from pytest_mlbugs.targeting.coverage import CleanRun, CleanRunner
from pytest_mlbugs.targeting.distributed import VERDICT_KEY, MutantItem, WorkerState, payloads
from pytest_mlbugs.targeting.judge import MutantJudge
from pytest_mlbugs.targeting.mutants import Mutant, TargetError, resolve_targets, sample
from pytest_mlbugs.targeting.options import TARGET
from pytest_mlbugs.targeting.report import build_report, summary_lines
from pytest_mlbugs.targeting.results import TargetResults


class TargetSession:
    """The plugin object of target mode: pytest's hooks, and the serial run loop."""

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
        self.clean_runner: CleanRunner | None = None
        # pytest -n: every worker collects the same mutant items, makes its own clean run, and
        # judges the items it is handed; the verdicts travel to the controller in the reports
        self.is_worker = hasattr(config, "workerinput")
        self.worker: WorkerState | None = None
        self.mutants: list[Mutant] = []
        self.session_started = time.perf_counter()

    @property
    def distributing(self) -> bool:
        """Whether this process is an xdist controller, whose workers judge the mutants."""
        return not self.is_worker and self.config.pluginmanager.getplugin("dsession") is not None

    # -- hooks ---------------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> str:
        parts = [f"{TARGET}={t}" for t in self.targets]
        parts.append(f"{options.SEED}={self.settings.seed}")
        if self.settings.count is not None:
            parts.append(f"{options.COUNT}={self.settings.count}")
        return "mlbugs: " + " ".join(parts)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.clean_runner is not None:
            self.clean_runner.saw(report)
        if self.distributing:
            for payload in payloads(report):
                self._receive(payload)

    def pytest_configure_node(self, node: Any) -> None:  # xdist: every worker samples our way
        node.workerinput["mlbugs_seed"] = self.settings.seed

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session_started = time.perf_counter()
        if self.distributing:  # the files, their sources and the order of the mutants
            self._resolve_targets()
            self.mutants = self._sampled(*self._cache().mutants())

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if not self.is_worker:
            return
        self.worker = WorkerState(user_items=list(items))
        self._resolve_targets()
        self.mutants = self._sampled(*self._cache().mutants())
        items[:] = [MutantItem.from_parent(session, name=f"mlbugs-target[{m.id}]", mutant_id=m.id)
                    for m in self.mutants]  # fmt: skip

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """Judge a mutant item before its own set-up: the child runs the user's tests, whose
        fixtures must not sit under ours."""
        if not isinstance(item, MutantItem) or self.worker is None:
            return
        state = self.worker
        if state.judge is None and not self.results.stopped:
            self._prepare_worker(item.session, state)
        payload: dict[str, Any] = {"problems": self.results.problems}
        if self.results.stopped:
            payload["stopped"] = self.results.stopped
        else:
            state.judge.judge(next(m for m in self.mutants if m.id == item.mutant_id))
            payload["record"] = self.results.records[-1]
        item.user_properties.append((VERDICT_KEY, payload))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        if self.is_worker or self.distributing:
            return None  # xdist's loops hand the mutant items out
        if session.testsfailed and not session.config.option.continue_on_collection_errors:
            raise session.Interrupted(
                f"{session.testsfailed} error(s) during collection: mlbugs needs the tests to collect cleanly"
            )
        if session.config.option.collectonly:
            return True
        phase_started = time.perf_counter()
        try:
            self._run(session)
        finally:
            self.results.phase_seconds = time.perf_counter() - phase_started
        return True

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.worker is not None:
            judge = self.worker.judge
            if judge is not None and self.worker.tests_digest:
                self._cache().store(self.worker.tests_digest, judge.clean, judge.verdicts)
            return
        if self.distributing:
            self.results.order_by(self.mutants)
            self.results.phase_seconds = self.results.judged_seconds = (
                time.perf_counter() - self.session_started
            )
        if self.settings.report is not None and self.results.records:
            write_json_atomically(self.settings.report, build_report(self.results))
        if self.settings.html is not None and self.results.records and not self.is_worker:
            write_html(build_report(self.results), self.settings.html)
        score = self.results.score()
        fail_under = self.results.fail_under
        if fail_under is not None and score is not None and score < fail_under:
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        terminalreporter.section("mlbugs: mutation testing of your code")
        for line in summary_lines(self.results):
            terminalreporter.write_line(line)
        if self.settings.html is not None and self.results.records:
            terminalreporter.write_line(f"HTML report written to {self.settings.html / INDEX}")

    # -- the steps -----------------------------------------------------------------------------

    def _resolve_targets(self) -> None:
        try:
            self.results.files = resolve_targets(self.targets, root=self.config.rootpath, option=TARGET)
        except TargetError as exc:
            pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)

    def _selected_mutators(self) -> list[Mutator]:
        selected = [self.registry.mutators[bug_id] for bug_id in self.settings.mutators]
        if self.config.option.mlbugs_components is not None:
            wanted = set(self.settings.components)
            selected = [m for m in selected if wanted.intersection(m.components)]
        return selected

    def _cache(self) -> TargetCache:
        return TargetCache(self.config, self.results.files, self._selected_mutators())

    def _sampled(self, everything: list[Mutant], problems: list[str]) -> list[Mutant]:
        """The mutants sampled by the seed (``--mlbugs-count``), with every ignored site."""
        for problem in problems:
            self.results.problem(problem)
        active = [m for m in everything if m.ignored_reason is None]
        chosen = {id(m) for m in sample(active, self.settings.count, self.settings.seed)}
        return [m for m in everything if id(m) in chosen or m.ignored_reason is not None]

    def _clean_run(self, session: pytest.Session, items: list[pytest.Item], *, log: bool) -> CleanRun | None:
        self.clean_runner = CleanRunner(self.results.files)
        try:
            clean, stopped = self.clean_runner.run(session, items, log=log)
        finally:
            self.clean_runner = None
        self.results.stopped = stopped
        return clean

    def _judge(self, items: Sequence[pytest.Item], clean: CleanRun, verdicts: dict[str, Any]) -> MutantJudge:
        return MutantJudge(
            self.config, self.results, items=items, clean=clean, verdicts=verdicts, timeout=self.timeout
        )

    def _run(self, session: pytest.Session) -> None:
        self._resolve_targets()
        cache = self._cache()
        found_meanwhile = cache.find_meanwhile()
        items = list(session.items)
        tests_digest = cache.tests_digest(items)
        cached = cache.load(tests_digest)
        verdicts: dict[str, Any] = cached.get("verdicts", {})
        all_cached = False
        if found_meanwhile is None:  # known from the cache: a clean run may not be needed
            mutants = self._sampled(*cache.mutants())
            active = [m for m in mutants if m.ignored_reason is None]
            all_cached = bool(active) and all(m.digest in verdicts for m in active)
        if cached.get("clean") and all_cached:
            judge = self._judge(items, CleanRun(**cached["clean"]), verdicts)
        else:
            clean = self._clean_run(session, items, log=True)
            if found_meanwhile is not None:
                mutants = self._sampled(*found_meanwhile())
            if clean is None:
                return
            judge = self._judge(items, clean, verdicts)
            failed_check = judge.forced_failure_check()
            if failed_check is not None:
                pytest.exit(failed_check, returncode=pytest.ExitCode.INTERNAL_ERROR)
        judge.judge_all(mutants)
        cache.store(tests_digest, judge.clean, verdicts)

    # -- pytest -n --------------------------------------------------------------------------------

    def _receive(self, payload: dict[str, Any]) -> None:
        """A worker's payload, on the controller."""
        if payload.get("stopped"):
            self.results.stopped = self.results.stopped or payload["stopped"]
        for problem in payload.get("problems", []):
            self.results.problem(problem)
        record = payload.get("record")
        if isinstance(record, dict):
            self.results.add(record)

    def _prepare_worker(self, session: pytest.Session, state: WorkerState) -> None:
        """A worker's clean run (or the cached one) and forced-failure check, before its first
        mutant."""
        items = state.user_items
        cache = self._cache()
        state.tests_digest = cache.tests_digest(items)
        cached = cache.load(state.tests_digest)
        verdicts = cached.get("verdicts", {})
        active = [m for m in self.mutants if m.ignored_reason is None]
        if cached.get("clean") and active and all(m.digest in verdicts for m in active):
            state.judge = self._judge(items, CleanRun(**cached["clean"]), verdicts)
            return
        clean = self._clean_run(session, items, log=False)
        if clean is not None:
            state.judge = self._judge(items, clean, verdicts)
            self.results.stopped = state.judge.forced_failure_check()
