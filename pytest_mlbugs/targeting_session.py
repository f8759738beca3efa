"""The run loop of ``--mlbugs-target``: a clean run, a forced failure, then one fork per mutant.

1. **Clean run.** The collected tests run once, the ordinary way (the terminal shows them),
   under a line tracer limited to the target files: it records which test executes which
   target line, and how long each test takes. A failing test stops everything: verdicts
   against a red suite mean nothing.
2. **Forced failure.** For each target file, a mutant whose every function raises is judged
   exactly as real mutants are; the tests that execute the file must fail on it, or the harness
   cannot see failures here and the run stops.
3. **Mutants.** Each mutant is judged in a child forked from this warm process (torch and the
   test modules are already imported): the child swaps the mutated module in place
   (:mod:`pytest_mlbugs.targeting_swap`), then runs, through pytest's own ``runtestprotocol``
   (fixtures and all), only the tests that executed the changed lines, fastest first, and stops
   at the first failure. A mutant that cannot be imported, or a crashed child, is an error;
   only a failing test is a detection. The time limit is relative to those tests' clean times.

Nothing is ever written to the user's files: mutants exist only in memory. Verdicts are cached
in pytest's cache, keyed by the mutant's source and a digest of every project module loaded
after collection (tests, conftests, helpers, the targets) and of the collected test ids.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import importlib.util
import json
import os
import sys
import threading
import time
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _pytest.runner import runtestprotocol

from pytest_mlbugs import __version__, options
from pytest_mlbugs.targeting import TARGET
from pytest_mlbugs.targeting_mutants import (
    Mutant,
    TargetFile,
    forced_failure_source,
    mutants_of,
    python_files,
    sample,
)

if TYPE_CHECKING:
    from pytest_mlbugs.mutation import Mutator
    from pytest_mlbugs.registry import Registry
    from pytest_mlbugs.runner import PendingVerdict, Verdict

CACHE_KEY = "mlbugs/target"
#: the mutants of each target file, keyed by its source and the selected mutators
MUTANTS_CACHE_KEY = "mlbugs/target-mutants"
CACHE_FORMAT = 1
#: the limit of a mutant: a fixed allowance (fork, swap) plus a multiple of its tests' clean time
TIMEOUT_BASE_SECONDS = 5.0
TIMEOUT_FACTOR = 10.0
NO_COVERAGE = "no test executes the changed lines"


def _realpath(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.fspath(path))


class LineTracer:
    """Which lines of the target files run while it is on, target frames only: ``sys.settrace``
    for this thread and ``threading.settrace`` for the threads started meanwhile (a data loader's
    worker thread, a test's executor), both given back on exit."""

    def __init__(self, files: set[str]) -> None:
        self.files = files
        self._names: dict[str, str | None] = {}
        self.lines: dict[str, set[int]] = {}
        self._previous: Any = None
        self._previous_threading: Any = None

    def _file_of(self, filename: str) -> str | None:
        known = self._names.get(filename, "")
        if known == "":
            real = _realpath(filename) if filename and not filename.startswith("<") else None
            known = real if real in self.files else None
            self._names[filename] = known
        return known

    def _tracer(self) -> Callable[[types.FrameType, str, Any], Any]:
        """The global trace function: called for every Python call while tracing (torch's
        layers included), so it does one dictionary lookup for a file it has seen before and
        returns at once for a file that is not a target."""
        names = self._names
        file_of = self._file_of
        lines_of = self.lines

        def trace(frame: types.FrameType, event: str, arg: Any) -> Any:
            filename = frame.f_code.co_filename
            path = names.get(filename, "")
            if path is None:
                return None
            if path == "":
                path = file_of(filename)
                if path is None:
                    return None
            lines = lines_of.setdefault(path, set())
            lines.add(frame.f_lineno)

            def local(frame: types.FrameType, event: str, arg: Any) -> Any:
                if event == "line":
                    lines.add(frame.f_lineno)
                return local

            return local

        return trace

    def __enter__(self) -> LineTracer:
        self.lines = {}
        self._previous = sys.gettrace()
        self._previous_threading = threading.gettrace()
        trace = self._tracer()
        threading.settrace(trace)
        sys.settrace(trace)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(self._previous)
        threading.settrace(self._previous_threading)


@dataclasses.dataclass
class CleanRun:
    """Per test: its clean time and the target lines it executed (file display name -> lines)."""

    seconds: dict[str, float]
    lines: dict[str, dict[str, list[int]]]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def tests_for(self, mutant: Mutant) -> list[str]:
        wanted = set(mutant.changed_lines)
        chosen = []
        for nodeid, files in self.lines.items():
            executed = files.get(mutant.file.display)
            if executed and (mutant.module_level or wanted.intersection(executed)):
                chosen.append(nodeid)
        return sorted(chosen, key=lambda nodeid: (self.seconds.get(nodeid, 0.0), nodeid))

    def tests_of_file(self, display: str) -> list[str]:
        chosen = [nodeid for nodeid, files in self.lines.items() if files.get(display)]
        return sorted(chosen, key=lambda nodeid: (self.seconds.get(nodeid, 0.0), nodeid))


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = getattr(crash, "message", None) or str(report.longrepr or "")
    lines = text.strip().splitlines()
    return lines[0][:300] if lines else "failed"


class TargetSession:
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
        self.fail_under = fail_under
        self.timeout_given = config.option.mlbugs_timeout is not None or bool(config.getini("mlbugs_timeout"))
        self.clean_failures: list[str] = []
        self.in_clean_run = False
        self.results: list[dict[str, Any]] = []
        self.files: list[TargetFile] = []
        self.problems: list[str] = []
        self.stopped: str | None = None
        self.from_cache = 0
        self.judged_seconds = 0.0
        self.phase_seconds = 0.0
        # pytest -n: every worker collects the same mutant items, makes its own clean run, and
        # judges the items it is handed; the verdicts travel to the controller in the reports
        self.is_worker = hasattr(config, "workerinput")
        self.worker: _WorkerState | None = None
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
        if self.in_clean_run and report.failed and report.nodeid not in self.clean_failures:
            self.clean_failures.append(report.nodeid)
        if self.distributing and report.when == "call":
            for key, value in report.user_properties:
                if key == VERDICT_KEY and isinstance(value, dict):
                    self._receive(value)

    # -- pytest -n: the controller ---------------------------------------------------------------

    def pytest_configure_node(self, node: Any) -> None:  # xdist: every worker samples our way
        node.workerinput["mlbugs_seed"] = self.settings.seed

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session_started = time.perf_counter()
        if self.distributing:  # the files, their sources and the order of the mutants
            self._resolve_targets()
            self.mutants = self._mutants()

    def _receive(self, payload: dict[str, Any]) -> None:
        if payload.get("stopped"):
            self.stopped = self.stopped or payload["stopped"]
        self.problems.extend(p for p in payload.get("problems", []) if p not in self.problems)
        record = payload.get("record")
        if isinstance(record, dict):
            self.results.append(record)
            self.from_cache += bool(record.get("cached"))

    # -- pytest -n: a worker --------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if not self.is_worker:
            return
        self.worker = _WorkerState(user_items=list(items))
        self._resolve_targets()
        self.mutants = self._mutants()
        items[:] = [MutantItem.from_parent(session, name=f"mlbugs-target[{m.id}]", mutant_id=m.id)
                    for m in self.mutants]  # fmt: skip

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """Judge a mutant item before its own set-up: the child runs the user's tests, whose
        fixtures must not sit under ours."""
        if not isinstance(item, MutantItem) or self.worker is None:
            return
        state = self.worker
        if not state.prepared:
            state.prepared = True
            self._prepare_worker(item.session, state)
        payload: dict[str, Any] = {"problems": self.problems}
        if self.stopped:
            payload["stopped"] = self.stopped
        else:
            mutant = next(m for m in self.mutants if m.id == item.mutant_id)
            assert state.clean is not None
            tests, future = self._start(mutant, state.by_id, state.clean, state.verdicts, state.modules)
            if future is not None:
                self._finish(mutant, tests, future.result(), state.verdicts)
            payload["record"] = self.results[-1]
        item.user_properties.append((VERDICT_KEY, payload))

    def _prepare_worker(self, session: pytest.Session, state: _WorkerState) -> None:
        items = state.user_items
        state.tests_digest = self._tests_digest(items)
        cached = self._cache_load(state.tests_digest)
        state.verdicts = cached.get("verdicts", {})
        state.by_id = {item.nodeid: item for item in items}
        active = [m for m in self.mutants if m.ignored_reason is None]
        if cached.get("clean") and active and all(m.digest in state.verdicts for m in active):
            state.clean = CleanRun(**cached["clean"])
        else:
            state.clean = self._clean_run(session, items, log=False)
            if state.clean is not None:
                self.stopped = self._forced_failure_check(items, state.clean)
        state.modules = self._modules()

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
            self.phase_seconds = time.perf_counter() - phase_started
        return True

    def _run(self, session: pytest.Session) -> None:
        self.files = self._resolve_targets()
        mutants_found = self._mutants_meanwhile()
        items = list(session.items)
        tests_digest = self._tests_digest(items)
        cached = self._cache_load(tests_digest)
        verdicts: dict[str, Any] = cached.get("verdicts", {})
        all_cached = False
        if mutants_found is None:  # known from the cache: a clean run may not be needed
            mutants = self._mutants()
            active = [m for m in mutants if m.ignored_reason is None]
            all_cached = bool(active) and all(m.digest in verdicts for m in active)
        if cached.get("clean") and all_cached:
            clean = CleanRun(**cached["clean"])
        else:
            clean_or_none = self._clean_run(session, items)
            if mutants_found is not None:
                mutants = mutants_found()
            if clean_or_none is None:
                return
            clean = clean_or_none
            failed_check = self._forced_failure_check(items, clean)
            if failed_check is not None:
                pytest.exit(failed_check, returncode=pytest.ExitCode.INTERNAL_ERROR)
        self._judge(items, clean, mutants, verdicts)
        self._cache_store(tests_digest, clean, verdicts)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.worker is not None:
            if self.worker.clean is not None and self.worker.tests_digest:
                self._cache_store(self.worker.tests_digest, self.worker.clean, self.worker.verdicts)
            return
        if self.distributing:
            order = {m.id: i for i, m in enumerate(self.mutants)}
            self.results.sort(key=lambda r: order.get(r["id"], len(order)))
            self.phase_seconds = self.judged_seconds = time.perf_counter() - self.session_started
        if self.settings.report is not None and self.results:
            from pytest_mlbugs.atomicio import write_json_atomically
            from pytest_mlbugs.targeting_report import build_report

            write_json_atomically(self.settings.report, build_report(self))
        score = self.score()
        if self.fail_under is not None and score is not None and score < self.fail_under:
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        from pytest_mlbugs.targeting_report import summary_lines

        terminalreporter.section("mlbugs: mutation testing of your code")
        for line in summary_lines(self):
            terminalreporter.write_line(line)

    # -- the steps -----------------------------------------------------------------------------

    def _resolve_targets(self) -> list[TargetFile]:
        root = self.config.rootpath
        paths: list[Path] = []
        for raw in self.targets:
            path = Path(raw)
            if not path.exists():
                try:
                    spec = importlib.util.find_spec(raw)
                except (ImportError, ValueError) as exc:
                    pytest.exit(
                        f"{TARGET}={raw}: cannot import it: {exc}", returncode=pytest.ExitCode.USAGE_ERROR
                    )
                if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
                    pytest.exit(
                        f"{TARGET}={raw}: no such module or file; give a path or an importable module name",
                        returncode=pytest.ExitCode.USAGE_ERROR,
                    )
                path = Path(spec.origin)
                if spec.submodule_search_locations:
                    path = path.parent
            if path.is_dir():
                paths.extend(
                    p
                    for p in python_files(path)
                    if not (
                        p.name.startswith("test_") or p.name.endswith("_test.py") or p.name == "conftest.py"
                    )
                )
            else:
                paths.append(path)
        from pytest_mlbugs.loader import LoadError, read_user_source

        files: dict[str, TargetFile] = {}
        for path in paths:
            real = Path(_realpath(path))
            try:
                source = read_user_source(real, option=TARGET)
            except LoadError as exc:
                pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)
            try:
                display = real.relative_to(root).as_posix()
            except ValueError:
                display = str(real)
            files.setdefault(str(real), TargetFile(real, display, source))
        if not files:
            pytest.exit(f"{TARGET}: no Python files in {', '.join(self.targets)}", returncode=4)
        self.files = list(files.values())
        return self.files

    def _selected_mutators(self) -> list[Mutator]:
        selected = [self.registry.mutators[bug_id] for bug_id in self.settings.mutators]
        if self.config.option.mlbugs_components is not None:
            wanted = set(self.settings.components)
            selected = [m for m in selected if wanted.intersection(m.components)]
        return selected

    def _mutant_entries(self, *, compute: bool) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """Per target file, its mutants as the cache keeps them: ``(entries, stored, missing)``,
        ``missing`` the keys of the files not in the cache (found here when ``compute``)."""
        selected = self._selected_mutators()
        cache = getattr(self.config, "cache", None)
        stored = cache.get(MUTANTS_CACHE_KEY, {}) if cache is not None else {}
        if not isinstance(stored, dict):
            stored = {}
        entries: dict[str, Any] = {}
        missing: list[str] = []
        for target in self.files:
            key = hashlib.sha256(
                "\x1f".join(
                    [__version__, target.display, target.source, *(m.bug_id for m in selected)]
                ).encode()
            ).hexdigest()
            entry = stored.get(key)
            if entry is None:
                missing.append(key)
                if not compute:
                    continue
                found, problems = mutants_of(target, selected, module_label=target.display)
                entry = {"problems": problems, "mutants": [_mutant_json(m) for m in found]}
            entries[key] = entry
        return entries, stored, missing

    def _mutants_meanwhile(self) -> Callable[[], list[Mutant]] | None:
        """Start finding the mutants of files the cache does not hold in a forked child (libcst
        work, a core of its own) while this process makes the clean run; the function returned
        waits for them. ``None`` where the cache holds them all, or fork does not exist."""
        _, _, missing = self._mutant_entries(compute=False)
        if not missing or not hasattr(os, "fork"):
            return None
        from pytest_mlbugs.runner import fork_quietly

        read_fd, write_fd = os.pipe()
        pid = fork_quietly()
        if pid == 0:  # the child: compute, write, leave without running any pytest hook
            status = 70
            try:
                os.close(read_fd)
                payload = json.dumps(self._mutant_entries(compute=True)[0]).encode()
                with os.fdopen(write_fd, "wb") as pipe:
                    pipe.write(payload)
                status = 0
            finally:
                os._exit(status)
        os.close(write_fd)

        def gather() -> list[Mutant]:
            with os.fdopen(read_fd, "rb") as pipe:
                payload = pipe.read()
            _, wait_status = os.waitpid(pid, 0)
            try:
                entries = json.loads(payload) if os.waitstatus_to_exitcode(wait_status) == 0 else None
            except ValueError:
                entries = None
            return self._mutants(entries if isinstance(entries, dict) else None)

        return gather

    def _mutants(self, entries: dict[str, Any] | None = None) -> list[Mutant]:
        """The mutants of the targets (``entries``: as a child found them), sampled by the seed."""
        if entries is None:
            entries, stored, _ = self._mutant_entries(compute=True)
        else:
            _, stored, _ = self._mutant_entries(compute=False)
        everything: list[Mutant] = []
        for target, entry in zip(self.files, entries.values(), strict=True):
            everything.extend(
                Mutant(file=target, **{**fields, "changed_lines": tuple(fields["changed_lines"])})
                for fields in entry["mutants"]
            )
            self.problems.extend(entry["problems"])
        cache = getattr(self.config, "cache", None)
        if cache is not None and entries != stored:
            cache.set(MUTANTS_CACHE_KEY, entries)
        active = [m for m in everything if m.ignored_reason is None]
        chosen = {id(m) for m in sample(active, self.settings.count, self.settings.seed)}
        self.ignored = [m for m in everything if m.ignored_reason is not None]
        return [m for m in everything if id(m) in chosen or m.ignored_reason is not None]

    def _tests_digest(self, items: Sequence[pytest.Item]) -> str:
        """Every project module loaded now (not installed packages), the test ids, the versions."""
        root = str(self.config.rootpath)
        digest = hashlib.sha256(f"{CACHE_FORMAT}\x1f{__version__}\x1f{sys.version}".encode())
        files = set()
        for module in list(sys.modules.values()):
            filename = getattr(module, "__file__", None)
            if filename and filename.endswith(".py"):
                real = _realpath(filename)
                if real.startswith(root) and "site-packages" not in real:
                    files.add(real)
        files.update(str(t.path) for t in self.files)
        for filename in sorted(files):
            digest.update(filename.encode() + b"\x00")
            try:
                digest.update(Path(filename).read_bytes())
            except OSError:
                digest.update(b"<unreadable>")
        for item in items:
            digest.update(item.nodeid.encode() + b"\x00")
        return digest.hexdigest()

    def _cache_load(self, tests_digest: str) -> dict[str, Any]:
        cache = getattr(self.config, "cache", None)
        if cache is None:
            return {}
        stored = cache.get(CACHE_KEY, None)
        if not isinstance(stored, dict) or stored.get("tests_digest") != tests_digest:
            return {}
        return stored

    def _cache_store(self, tests_digest: str, clean: CleanRun, verdicts: dict[str, Any]) -> None:
        cache = getattr(self.config, "cache", None)
        if cache is not None:
            # xdist workers each add theirs (the last of two simultaneous writes wins: a verdict
            # lost from the cache is judged again next time, never wrong)
            verdicts = {**self._cache_load(tests_digest).get("verdicts", {}), **verdicts}
            cache.set(
                CACHE_KEY, {"tests_digest": tests_digest, "clean": clean.to_json(), "verdicts": verdicts}
            )

    def _clean_run(
        self, session: pytest.Session, items: list[pytest.Item], *, log: bool = True
    ) -> CleanRun | None:
        real_to_display = {str(t.path): t.display for t in self.files}
        tracer = LineTracer(set(real_to_display))
        seconds: dict[str, float] = {}
        lines: dict[str, dict[str, list[int]]] = {}
        self.in_clean_run = True
        try:
            for index, item in enumerate(items):
                nextitem = items[index + 1] if index + 1 < len(items) else None
                started = time.perf_counter()
                with tracer:
                    if log:
                        item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
                    else:  # an xdist worker: its controller knows only the mutant items
                        reports = runtestprotocol(item, log=False, nextitem=nextitem)
                        if any(r.failed for r in reports) and item.nodeid not in self.clean_failures:
                            self.clean_failures.append(item.nodeid)
                seconds[item.nodeid] = time.perf_counter() - started
                lines[item.nodeid] = {real_to_display[f]: sorted(v) for f, v in tracer.lines.items() if v}
                if session.shouldfail or session.shouldstop:
                    break
        finally:
            self.in_clean_run = False
        if session.shouldfail or session.shouldstop:
            self.stopped = f"the clean run stopped early ({session.shouldfail or session.shouldstop})"
        if self.clean_failures:
            self.stopped = (
                f"the clean run failed: {len(self.clean_failures)} test(s) fail without any mutant: "
                f"{', '.join(self.clean_failures)}; fix or deselect them, then run again"
            )
        if self.stopped:
            return None
        return CleanRun(seconds, lines)

    def _modules(self) -> dict[str, types.ModuleType]:
        by_file: dict[str, types.ModuleType] = {}
        wanted = {str(t.path) for t in self.files}
        for module in list(sys.modules.values()):
            filename = getattr(module, "__file__", None)
            if isinstance(module, types.ModuleType) and filename:
                real = _realpath(filename)
                if real in wanted:
                    by_file.setdefault(real, module)
        return by_file

    def _limit(self, clean: CleanRun, tests: Sequence[str]) -> float:
        if self.timeout_given:
            return self.settings.timeout
        return TIMEOUT_BASE_SECONDS + TIMEOUT_FACTOR * sum(clean.seconds.get(t, 0.0) for t in tests)

    def _pending(
        self, items: dict[str, pytest.Item], module: types.ModuleType | None, target: TargetFile, source: str,
        tests: Sequence[str], limit: float,
    ) -> PendingVerdict:  # fmt: skip
        from pytest_mlbugs.runner import PendingVerdict

        job = _mutant_job(self.config, module, target, source, [items[t] for t in tests])
        return PendingVerdict(job, timeout=limit, isolation="fork")

    def _forced_failure_check(self, items: list[pytest.Item], clean: CleanRun) -> str | None:
        """Why no verdict can be trusted here, or ``None`` when the harness sees failures."""
        by_id = {item.nodeid: item for item in items}
        modules = self._modules()
        covered = False
        for target in self.files:
            tests = clean.tests_of_file(target.display)
            if not tests:
                continue
            covered = True
            verdict = self._pending(
                by_id, modules.get(str(target.path)), target, forced_failure_source(target.source), tests,
                self._limit(clean, tests),
            ).result()  # fmt: skip
            if verdict.status != "detected":
                return (
                    f"mlbugs: forced-fail check: with every function of {target.display} raising, its "
                    f"{len(tests)} test(s) were judged {verdict.status} "
                    f"({verdict.detail or 'no failure seen'}); the harness cannot see failures here, "
                    "so no verdict would be trustworthy"
                )
        if not covered:
            self.problems.append(
                f"no collected test executes any line of {', '.join(t.display for t in self.files)}: "
                "every mutant survives"
            )
        return None

    def _judge(
        self, items: list[pytest.Item], clean: CleanRun, mutants: list[Mutant], verdicts: dict[str, Any]
    ) -> None:
        by_id = {item.nodeid: item for item in items}
        modules = self._modules()
        jobs = max(1, min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2, 8))
        pending: collections.deque[tuple[Mutant, list[str], PendingVerdict]] = collections.deque()
        started = time.perf_counter()

        try:
            for mutant in mutants:
                tests, verdict_future = self._start(mutant, by_id, clean, verdicts, modules)
                if verdict_future is None:
                    continue
                pending.append((mutant, tests, verdict_future))
                while len(pending) >= jobs:
                    done_mutant, done_tests, future = pending.popleft()
                    self._finish(done_mutant, done_tests, future.result(), verdicts)
            while pending:
                done_mutant, done_tests, future = pending.popleft()
                self._finish(done_mutant, done_tests, future.result(), verdicts)
        finally:
            for _, _, future in pending:
                future.cancel()
            self.judged_seconds = time.perf_counter() - started
        order = {m.id: i for i, m in enumerate(mutants)}
        self.results.sort(key=lambda r: order[r["id"]])

    def _start(
        self, mutant: Mutant, by_id: dict[str, pytest.Item], clean: CleanRun, verdicts: dict[str, Any],
        modules: dict[str, types.ModuleType],
    ) -> tuple[list[str], PendingVerdict | None]:  # fmt: skip
        """Record the mutant's verdict when it needs no child (ignored, cached, no test, no
        module); otherwise start its child and give it back."""
        if mutant.ignored_reason is not None:
            self._record(mutant, [], None, cached=False)
            return [], None
        tests = [t for t in clean.tests_for(mutant) if t in by_id]
        hit = verdicts.get(mutant.digest)
        if hit is not None and hit.get("tests") == tests:
            self.from_cache += 1
            self._record(mutant, tests, hit["verdict"], cached=True)
            return tests, None
        if not tests:
            self._record(
                mutant, tests, {"status": "survived", "seconds": 0.0, "detail": NO_COVERAGE}, cached=False
            )
            return tests, None
        module = modules.get(str(mutant.file.path))
        if module is None:
            detail = "the target file was never imported as a module"
            self._record(mutant, tests, {"status": "error", "seconds": 0.0, "detail": detail}, cached=False)
            return tests, None
        future = self._pending(by_id, module, mutant.file, mutant.source, tests, self._limit(clean, tests))
        future.start()
        return tests, future

    def _finish(self, mutant: Mutant, tests: list[str], verdict: Verdict, verdicts: dict[str, Any]) -> None:
        self._record(mutant, tests, verdict.to_json(), cached=False)
        if verdict.status in ("detected", "survived"):
            verdicts[mutant.digest] = {"tests": tests, "verdict": verdict.to_json()}

    def _record(
        self, mutant: Mutant, tests: list[str], verdict: dict[str, Any] | None, *, cached: bool
    ) -> dict[str, Any]:
        mutator = self.registry.mutators[mutant.bug_id]
        failures = (verdict or {}).get("failures") or []
        record: dict[str, Any] = {
            "id": mutant.id,
            "file": mutant.file.display,
            "bug_id": mutant.bug_id,
            "category": mutator.category.value,
            "layer": mutator.layer.value,
            "description": mutator.description,
            "line": mutant.first_line,
            "changed_lines": list(mutant.changed_lines),
            "diff": mutant.diff,
            "status": "ignored" if verdict is None else verdict["status"],
            "seconds": 0.0 if verdict is None else verdict.get("seconds", 0.0),
            "detail": mutant.ignored_reason if verdict is None else verdict.get("detail", ""),
            "killed_by": failures[0]["property"] if failures else None,
            "failure": failures[0]["message"] if failures else None,
            "tests": tests,
            "covered": bool(tests) or verdict is None,
            "cached": cached,
            "properties": catching_properties(self.registry, mutant.bug_id),
        }
        self.results.append(record)
        return record

    def score(self) -> float | None:
        judged = [r for r in self.results if r["status"] != "ignored"]
        if not judged:
            return None
        return 100.0 * sum(r["status"] == "detected" for r in judged) / len(judged)


#: the key under which a mutant item's verdict travels from an xdist worker to the controller
VERDICT_KEY = "mlbugs_target"


class MutantItem(pytest.Item):
    """One mutant, as an xdist worker's item: judged before its set-up (see
    ``TargetSession.pytest_runtest_protocol``); fails only when no verdict can be trusted."""

    def __init__(self, *, mutant_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mutant_id = mutant_id

    def runtest(self) -> None:
        for key, value in self.user_properties:
            if key == VERDICT_KEY and isinstance(value, dict) and value.get("stopped"):
                pytest.fail(value["stopped"], pytrace=False)

    def reportinfo(self) -> tuple[str, int | None, str]:
        return "mlbugs-target", None, self.name


@dataclasses.dataclass
class _WorkerState:
    user_items: list[pytest.Item]
    prepared: bool = False
    tests_digest: str = ""
    clean: CleanRun | None = None
    verdicts: dict[str, Any] = dataclasses.field(default_factory=dict)
    by_id: dict[str, pytest.Item] = dataclasses.field(default_factory=dict)
    modules: dict[str, types.ModuleType] = dataclasses.field(default_factory=dict)


def _mutant_json(mutant: Mutant) -> dict[str, Any]:
    fields = {f.name: getattr(mutant, f.name) for f in dataclasses.fields(mutant) if f.name != "file"}
    fields["changed_lines"] = list(mutant.changed_lines)
    return fields


def catching_properties(registry: Registry, bug_id: str) -> list[str]:
    """The contract properties of the mutator's components at its debugging layer."""
    mutator = registry.mutators[bug_id]
    found: list[str] = []
    for name in mutator.components:
        component = registry.components.get(name)
        if component is None:
            continue
        at_layer = [p for p in component.suite.properties if p.layer == mutator.layer]
        found.extend(p.qualified_name for p in (at_layer or component.suite.properties))
    return found


def _child_capture(config: pytest.Config) -> None:
    """Give the child its own capture files: the parent's are shared through fork."""
    capman: Any = config.pluginmanager.getplugin("capturemanager")
    if capman is not None and getattr(capman, "_global_capturing", None) is not None:
        from _pytest.capture import _get_multicapture

        capman._global_capturing = _get_multicapture(capman._method)
        capman._global_capturing.start_capturing()


def _private_hypothesis(items: Sequence[pytest.Item]) -> None:
    """In the mutant's child: keep the user's own Hypothesis tests out of the user's tree.

    A killed mutant's failing example must not land in the user's example database (it would
    replay there forever), nor Hypothesis' caches in the project. The storage folder moves to our
    temporary space (that also moves the default database), and every database a profile or a
    test's ``@settings`` names becomes an empty in-memory one; the child is thrown away after.
    """
    from hypothesis import settings
    from hypothesis.database import InMemoryExampleDatabase

    from pytest_mlbugs.runner import HYPOTHESIS_STORAGE, private_hypothesis_storage

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


def _mutant_job(
    config: pytest.Config,
    module: types.ModuleType | None,
    target: TargetFile,
    source: str,
    items: Sequence[pytest.Item],
) -> Callable[[], Verdict]:
    def job() -> Verdict:
        from _pytest.runner import runtestprotocol

        from pytest_mlbugs.runner import DETECTED, ERROR, SURVIVED, PropertyFailure, Verdict
        from pytest_mlbugs.targeting_swap import SwapError, swap_module

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
                return Verdict(ERROR, time.perf_counter() - started, [], str(exc))
        for index, item in enumerate(items):
            nextitem = items[index + 1] if index + 1 < len(items) else None
            for report in runtestprotocol(item, log=False, nextitem=nextitem):
                if report.failed:
                    failure = PropertyFailure(item.nodeid, _first_line(report), report.when or "")
                    return Verdict(DETECTED, time.perf_counter() - started, [failure])
        return Verdict(SURVIVED, time.perf_counter() - started, [], f"{len(items)} test(s) passed")

    return job
