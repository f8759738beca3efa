"""What a practice folder runs: grading, progress, and the state file that survives re-runs.

The generated ``test_<exercise>.py`` files call :func:`grade` once per property of the
component's suite; the generated ``conftest.py`` calls :func:`register`, whose plugin turns
the outcomes into progress (solved when every property held in one run) and prints the table.
``pytest DIR`` therefore grades without any ``--mlbugs-*`` option, for as long as
pytest-mlbugs is installed.

The state file (:data:`STATE_FILE`) is written atomically. The answers (bug IDs, lines,
diffs) are kept in it compressed, so that a glance at the folder does not spoil an exercise.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mlbugs.atomicio import write_json_atomically

if TYPE_CHECKING:
    from pytest_mlbugs.judging import Counterexample
    from pytest_mlbugs.registry import Component, Registry
    from pytest_mlbugs.suite import Suite

STATE_FILE = ".mlbugs-practice.json"
STATE_VERSION = 1
RECORD_KEY = "mlbugs_practice"
PLUGIN_NAME = "mlbugs-practice-grading"
#: seconds one property may take on an exercise before it counts as failed
GRADING_TIMEOUT = 120.0

UNSOLVED = "unsolved"
SOLVED = "solved"
GIVEN_UP = "given up"


class StateError(Exception):
    """The state file cannot be used; the message is one line."""


def exercise_filename(name: str) -> str:
    """``exercise_<name>.py``: a name no project imports, since pytest puts this folder on sys.path."""
    return f"exercise_{name}.py"


def grading_filename(name: str, number: int = 1) -> str:
    """``test_exercise_<name>.py``, numbered from 2 on: pytest imports the test modules of a
    folder without ``__init__.py`` by their bare names, so two practice folders of one project
    (one moved aside by ``--mlbugs-practice-new``) need different names for them."""
    return f"test_exercise_{name}.py" if number == 1 else f"test_exercise_{name}_{number}.py"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def encode_key(bugs: Any) -> str:
    return base64.b64encode(zlib.compress(json.dumps(bugs).encode("utf-8"))).decode("ascii")


def decode_key(key: str) -> Any:
    return json.loads(zlib.decompress(base64.b64decode(key)).decode("utf-8"))


def load_state(folder: Path) -> dict[str, Any] | None:
    path = folder / STATE_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        state = json.loads(text)
    except ValueError:
        raise StateError(f"{path} is not valid JSON; move it away to start this folder afresh") from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise StateError(f"{path} was not written by this version of pytest-mlbugs; move it away")
    return state


def save_state(folder: Path, state: dict[str, Any]) -> None:
    write_json_atomically(folder / STATE_FILE, state)


# ---------------------------------------------------------------------------------------------
# grading: what the generated test files call


def property_names(exercise: str, folder: Path | str | None = None) -> list[str]:
    component = exercise
    if folder is not None:
        state = load_state(Path(folder))
        if state and exercise in state["exercises"]:
            component = state["exercises"][exercise]["component"]
    return [p.name for p in _component(component).suite.properties]


#: the pytest config of this run (from :func:`register`: its conftests may register
#: components) and the run's registry, once built
_run: dict[str, Any] = {}


def _registry() -> Registry:
    """Every component of this run: built in, installed (entry points), and registered by the
    run's conftests (``pytest_mlbugs_register``), as in a seeded session."""
    # imported when the first exercise is graded: a conftest that imports this module stays cheap
    from pytest_mlbugs.extension_points import run_registry
    from pytest_mlbugs.registry import RegistryError

    if "registry" not in _run:
        try:
            _run["registry"] = run_registry(_run.get("config"))
        except RegistryError as exc:
            pytest.fail(str(exc), pytrace=False)
    found: Registry = _run["registry"]
    return found


def _component(name: str) -> Component:
    registry = _registry()
    if name not in registry.components:
        pytest.fail(
            f"component {name} is not registered in this run: install the package that provides it, or "
            "run pytest where the conftest.py that registers it is loaded",
            pytrace=False,
        )
    return registry.components[name]


_loaded: dict[tuple[str, str], Any] = {}


def _load_exercise(path: Path) -> Any:
    # imported at the first grade, as in grade()
    from pytest_mlbugs.loader import LoadError, load_user_file

    key = (str(path.resolve()), file_digest(path) or "")
    if key not in _loaded:
        try:
            _loaded[key] = load_user_file(
                path, name=f"_mlbugs_practice_{path.stem}_{key[1][:12]}", option=path.name
            )
        except LoadError as exc:
            _loaded[key] = exc
    loaded = _loaded[key]
    if isinstance(loaded, Exception):
        pytest.fail(str(loaded), pytrace=False)
    return loaded


def grade(test_file: str, exercise: str, property_name: str, record: Callable[[str, object], None]) -> None:
    """Check one property of the suite against the exercise file beside ``test_file``."""
    # imported at the first grade: the generated conftest imports this module on every run
    from pytest_mlbugs.isolation import run_isolated
    from pytest_mlbugs.judging import find_counterexample
    from pytest_mlbugs.seeds import derive_seed
    from pytest_mlbugs.verdict import HarnessError, Status, Verdict

    folder = Path(test_file).resolve().parent
    record(RECORD_KEY, {"folder": str(folder), "exercise": exercise, "property": property_name})
    state = load_state(folder)
    default = {"component": exercise, "file": exercise_filename(exercise)}
    entry = (state or {}).get("exercises", {}).get(exercise, default)
    seed = int((state or {}).get("seed", 0))
    component = _component(entry["component"])
    prop = next(p for p in component.suite.properties if p.name == property_name)
    path = folder / entry["file"]
    impl = _load_exercise(path)
    missing = component.suite.missing_names(impl)
    if missing:
        pytest.fail(f"{entry['file']} no longer defines {', '.join(missing)}", pytrace=False)
    found: list[Counterexample] = []

    def job() -> Verdict:
        try:
            counterexample = find_counterexample(prop, impl, seed=derive_seed(seed, prop.qualified_name))
        except HarnessError as exc:
            return Verdict(Status.ERROR, 0.0, [], str(exc))
        if counterexample is None:
            return Verdict(Status.PASSED, 0.0)
        found.append(counterexample)
        return Verdict(Status.DETECTED, 0.0, [counterexample.failure])

    # In-process, so that the user's print() calls show in pytest's report of the failure, and
    # so that the exception it raised can be explained.
    verdict = run_isolated(job, timeout=GRADING_TIMEOUT, isolation="none")
    if verdict.status == Status.PASSED:
        return
    if verdict.status == Status.DETECTED:
        pytest.fail(failure_text(found[0], component.suite, path), pytrace=False)
    if verdict.status == Status.TIMEOUT:
        pytest.fail(f"{prop.qualified_name}: no answer within {GRADING_TIMEOUT:g} s (an endless loop?)")
    raise RuntimeError(f"{prop.qualified_name} could not be checked: {verdict.detail}")


def failure_text(found: Counterexample, suite: Suite, path: Path) -> str:
    """What a failed property says about an exercise: the check that failed and where in the
    exercise, or first, when the suite could not read what the contract requires, that."""
    from pytest_mlbugs.failures import (  # with grade(), the first time a property fails
        contract_mismatch,
        contract_reference,
        failed_check,
        frames_to_read,
        user_line,
    )
    from pytest_mlbugs.mutation import Layer  # as above

    prop, failure, error = found.prop, found.failure, found.error
    shown = _shown(path)
    contract = f"  the contract: {contract_reference(suite)}"
    mismatch = None if error is None else contract_mismatch(error, prop, suite, user_file=path, shown=shown)
    if error is not None and mismatch is not None:
        where = frames_to_read(error, prop, path, shown=shown)
        return "\n".join(
            [mismatch, f"  found by {prop.qualified_name}; where:", *("    " + line for line in where)]
        )
    check = failure.message if error is None else failed_check(error, prop)
    lines = [f"{prop.qualified_name} does not hold: " + check.replace("\n", "\n    ")]
    mine = None if error is None else user_line(error, path, shown=shown)
    if mine is not None:
        lines.append(f"  in your file: {mine}")
    lines += [
        f"  what it means: {prop.meaning}",
        f"  in training this shows as: {prop.symptom}",
        f"  {prop.layer_line} in the procedure {' -> '.join(layer.value for layer in Layer)}",
        f"  a failing case: {failure.case}",
        contract,
    ]
    return "\n".join(lines)


def _shown(path: Path) -> str:
    """The exercise's path as the user would type it: relative to the current folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------------------
# progress


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600:02d}h"


def progress_lines(state: dict[str, Any], *, now: float | None = None) -> list[str]:
    now = time.time() if now is None else now
    rows = [("exercise", "status", "written", "hints", "time to solve")]
    for name in sorted(state["exercises"]):
        entry = state["exercises"][name]
        solve = "" if entry.get("solve_seconds") is None else _ago(entry["solve_seconds"])
        rows.append(
            (name, entry["status"], _ago(now - entry["written_at"]) + " ago", str(entry["hints_used"]), solve)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    counts = {
        s: sum(e["status"] == s for e in state["exercises"].values()) for s in (SOLVED, UNSOLVED, GIVEN_UP)
    }
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    interview = state.get("interview")
    if interview:
        lines.append(f"interview: {interview['exercise']}: {interview['prompt']}")
    return lines


def apply_outcomes(state: dict[str, Any], outcomes: dict[str, dict[str, bool]], *, now: float) -> list[str]:
    """Update statuses from one run's outcomes (exercise -> property -> passed); say what changed."""
    changes = []
    for name, results in outcomes.items():
        entry = state["exercises"].get(name)
        if entry is None or entry["status"] == GIVEN_UP:
            continue
        expected = set(entry.get("properties") or results)
        if not all(results.values()):
            if entry["status"] == SOLVED:
                changes.append(f"{name}: solved before, fails again")
            entry["status"] = UNSOLVED
        elif expected <= set(results) and entry["status"] != SOLVED:
            entry["status"] = SOLVED
            if entry.get("solved_at") is None:
                entry["solved_at"] = now
                entry["solve_seconds"] = now - entry.get("started_at", entry["written_at"])
            changes.append(f"{name}: solved, every property holds")
    return changes


class GradingPlugin:
    """Collects the outcomes of graded properties; updates each folder's state at the end."""

    def __init__(self) -> None:
        self.outcomes: dict[str, dict[str, dict[str, bool]]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "setup" and report.passed:
            return
        if report.when == "teardown" and not report.failed:
            return
        for key, value in report.user_properties:
            if key == RECORD_KEY and isinstance(value, dict):
                by_property = self.outcomes.setdefault(value["folder"], {}).setdefault(value["exercise"], {})
                by_property[value["property"]] = report.passed and by_property.get(value["property"], True)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        now = time.time()
        for folder, outcomes in sorted(self.outcomes.items()):
            try:
                state = load_state(Path(folder))
            except StateError as exc:
                terminalreporter.write_line(f"mlbugs practice: {exc}")
                continue
            if state is None:
                continue
            changes = apply_outcomes(state, outcomes, now=now)
            save_state(Path(folder), state)
            terminalreporter.section(f"mlbugs practice progress ({folder})")
            for line in changes + progress_lines(state, now=now):
                terminalreporter.write_line(line)


def register(config: pytest.Config) -> None:
    """Register the grading plugin once, whether a conftest or the practice session asks."""
    if not config.pluginmanager.has_plugin(PLUGIN_NAME):
        config.pluginmanager.register(GradingPlugin(), PLUGIN_NAME)
        _run.clear()
        _run["config"] = config
        config.add_cleanup(_run.clear)


CONFTEST = '''"""Generated by pytest-mlbugs: grades the exercises in this folder and keeps your progress."""

from pytest_mlbugs.practice import grading


def pytest_configure(config):
    grading.register(config)
'''


def grading_module(exercise: str) -> str:
    """The text of ``test_<exercise>.py``: one test per property of the exercise's suite."""
    return f'''"""Generated by pytest-mlbugs: grades {exercise_filename(exercise)}."""

import os

import pytest

from pytest_mlbugs.practice import grading

EXERCISE = "{exercise}"


@pytest.mark.parametrize("prop", grading.property_names(EXERCISE, os.path.dirname(__file__)))
def test_{exercise}(prop, record_property):
    grading.grade(__file__, EXERCISE, prop, record_property)
'''
