"""The clean run of target mode: the user's tests once, unmutated, under a line tracer.

It records which test executes which target line (so that a mutant runs only the tests that
reach its changed lines) and how long each test takes (the mutant's time limit, and the order:
fastest first). A failing test stops everything: verdicts against a red suite mean nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from pytest_mlbugs.targeting.mutants import Mutant, TargetFile


def realpath(path: str | os.PathLike[str]) -> str:
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
            real = realpath(filename) if filename and not filename.startswith("<") else None
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


class CleanRecorder:
    """The clean run as the user's tests run the ordinary way (the terminal shows them): each
    traced while it runs (:meth:`tracing`), and the failures seen (:meth:`saw`)."""

    def __init__(self, files: Sequence[TargetFile]) -> None:
        self.files = files
        self.real_to_display = {str(t.path): t.display for t in files}
        self.tracer = LineTracer(set(self.real_to_display))
        self.seconds: dict[str, float] = {}
        self.lines: dict[str, dict[str, list[int]]] = {}
        self.failures: list[str] = []

    @contextlib.contextmanager
    def tracing(self, item: pytest.Item) -> Iterator[None]:
        started = time.perf_counter()
        try:
            with self.tracer:
                yield
        finally:
            self.seconds[item.nodeid] = time.perf_counter() - started
            self.lines[item.nodeid] = {
                self.real_to_display[f]: sorted(v) for f, v in self.tracer.lines.items() if v
            }

    def saw(self, report: pytest.TestReport) -> None:
        if report.failed and report.nodeid not in self.failures:
            self.failures.append(report.nodeid)

    def complete(
        self, session: pytest.Session, items: Sequence[pytest.Item], cached: dict[str, Any] | None
    ) -> tuple[CleanRun | None, str | None]:
        """The clean run of every one of ``items``: the one seen here when they all ran, else the
        cached one, else a new one without output (some tests were deselected, or run by other
        xdist workers); or ``None`` and why no mutant can be judged."""
        if {item.nodeid for item in items} <= set(self.seconds):
            return CleanRun(dict(self.seconds), dict(self.lines)), None
        if cached:
            return CleanRun(**cached), None
        return CleanRunner(self.files).run(session, items, log=False)


class CleanRunner:
    """A clean run without output: every test again, traced, when the visible run did not run
    them all (some were deselected, or an xdist worker ran only its share) and the cache has
    none for these tests."""

    def __init__(self, files: Sequence[TargetFile]) -> None:
        self.files = files

    def run(
        self, session: pytest.Session, items: Sequence[pytest.Item], *, log: bool = False
    ) -> tuple[CleanRun | None, str | None]:
        """The clean run, or ``None`` and why no mutant can be judged."""
        real_to_display = {str(t.path): t.display for t in self.files}
        tracer = LineTracer(set(real_to_display))
        seconds: dict[str, float] = {}
        lines: dict[str, dict[str, list[int]]] = {}
        failures: list[str] = []
        for index, item in enumerate(items):
            nextitem = items[index + 1] if index + 1 < len(items) else None
            started = time.perf_counter()
            with tracer:
                reports = runtestprotocol(item, log=log, nextitem=nextitem)
            if any(r.failed for r in reports):
                failures.append(item.nodeid)
            seconds[item.nodeid] = time.perf_counter() - started
            lines[item.nodeid] = {real_to_display[f]: sorted(v) for f, v in tracer.lines.items() if v}
        if failures:
            return None, (
                f"the clean run failed: {len(failures)} test(s) fail without any mutant: "
                f"{', '.join(failures)}; fix or deselect them, then run again"
            )
        return CleanRun(seconds, lines), None
