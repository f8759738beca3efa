"""The clean run of target mode: the user's tests once, unmutated, under a line tracer.

It records which test executes which target line (so that a mutant runs only the tests that
reach its changed lines) and how long each test takes (the mutant's time limit, and the order:
fastest first). A failing test stops everything: verdicts against a red suite mean nothing.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import threading
import time
import types
from collections.abc import Callable, Sequence
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


class CleanRunner:
    """Runs the clean run and collects its failures; while it runs, the session's
    ``pytest_runtest_logreport`` hook passes every report to :meth:`saw` (a serial run logs
    through pytest's own protocol, so the terminal shows the user's tests as usual)."""

    def __init__(self, files: Sequence[TargetFile]) -> None:
        self.files = files
        self.failures: list[str] = []
        self.running = False

    def saw(self, report: pytest.TestReport) -> None:
        if self.running and report.failed and report.nodeid not in self.failures:
            self.failures.append(report.nodeid)

    def run(
        self, session: pytest.Session, items: Sequence[pytest.Item], *, log: bool = True
    ) -> tuple[CleanRun | None, str | None]:
        """The clean run, or ``None`` and why the run must stop."""
        real_to_display = {str(t.path): t.display for t in self.files}
        tracer = LineTracer(set(real_to_display))
        seconds: dict[str, float] = {}
        lines: dict[str, dict[str, list[int]]] = {}
        self.running = True
        try:
            for index, item in enumerate(items):
                nextitem = items[index + 1] if index + 1 < len(items) else None
                started = time.perf_counter()
                with tracer:
                    if log:
                        item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
                    else:  # an xdist worker: its controller knows only the mutant items
                        reports = runtestprotocol(item, log=False, nextitem=nextitem)
                        if any(r.failed for r in reports) and item.nodeid not in self.failures:
                            self.failures.append(item.nodeid)
                seconds[item.nodeid] = time.perf_counter() - started
                lines[item.nodeid] = {real_to_display[f]: sorted(v) for f, v in tracer.lines.items() if v}
                if session.shouldfail or session.shouldstop:
                    break
        finally:
            self.running = False
        stopped = None
        if session.shouldfail or session.shouldstop:
            stopped = f"the clean run stopped early ({session.shouldfail or session.shouldstop})"
        if self.failures:
            stopped = (
                f"the clean run failed: {len(self.failures)} test(s) fail without any mutant: "
                f"{', '.join(self.failures)}; fix or deselect them, then run again"
            )
        if stopped:
            return None, stopped
        return CleanRun(seconds, lines), None
