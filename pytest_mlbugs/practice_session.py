"""The practice session: writes a seed's exercises, hands out hints, and never loses work.

Safety rules, in the order they are checked:

- a folder holding another seed's (or difficulty's) exercises is refused with a one-line
  error; ``--mlbugs-practice-new`` renames it to a sibling folder first (never deletes);
- a non-empty folder without our state file is not ours: refused;
- the state file, with the hash of every file about to be written, is written before the
  files; a file whose content differs from the recorded hash was edited by the user and is
  never overwritten; every write is atomic (:mod:`pytest_mlbugs.atomicio`), so a run killed at
  any moment leaves each file old or new, and the next run completes what is missing.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_mlbugs import options, practice_grading
from pytest_mlbugs.atomicio import write_text_atomically
from pytest_mlbugs.collection import owns_collection
from pytest_mlbugs.practice import (
    DEFAULT_FOLDER,
    DIFFICULTY,
    HINT,
    PRACTICE,
    PRACTICE_NEW,
    REVEAL,
)
from pytest_mlbugs.practice_exercises import (
    DEFAULT_DIFFICULTY,
    DIFFICULTIES,
    ExerciseError,
    interview_component,
    interview_prompt,
    make_exercise,
)
from pytest_mlbugs.practice_grading import (
    GIVEN_UP,
    SOLVED,
    STATE_VERSION,
    UNSOLVED,
    StateError,
    decode_key,
    digest,
    encode_key,
    file_digest,
    grading_module,
    load_state,
    progress_lines,
    save_state,
)
from pytest_mlbugs.registry import Registry, builtin_registry

PLUGIN_NAME = "mlbugs-practice"
#: seconds to wait before each file write: lets the tests kill a run in the middle of writing
WRITE_DELAY_ENV = "MLBUGS_PRACTICE_WRITE_DELAY"
HINT_LEVELS = 4
#: how the controller tells xdist workers whether this run grades the folder
GRADING_KEY = "mlbugs_practice_grading"


class PracticeSession:
    def __init__(self, config: pytest.Config, folder: Path, header: str, lines: list[str]) -> None:
        self.config = config
        self.folder = folder
        self.header = header
        self.lines = lines
        self.grading = False

    # -- set-up -------------------------------------------------------------------------------

    @classmethod
    def from_config(cls, config: pytest.Config, registry: Registry) -> PracticeSession:
        opt = config.option
        folder = Path(opt.mlbugs_practice or DEFAULT_FOLDER)
        if folder.exists() and not folder.is_dir():
            raise pytest.UsageError(f"{PRACTICE}={folder}: is a file; give a folder for the exercises")
        try:
            state = load_state(folder)
        except StateError as exc:
            raise pytest.UsageError(f"{PRACTICE}={folder}: {exc}") from None
        if hasattr(config, "workerinput"):
            # an xdist worker: the controller wrote the folder and hands out hints; a worker
            # only collects the folder's tests, when the controller grades them
            session = cls(config, folder, "", [])
            session.grading = bool(config.workerinput.get(GRADING_KEY, False))
            return session
        if opt.mlbugs_hint is not None and opt.mlbugs_reveal is not None:
            raise pytest.UsageError(f"{HINT} and {REVEAL}: give one of them per run")
        for option, name in ((HINT, opt.mlbugs_hint), (REVEAL, opt.mlbugs_reveal)):
            if name is not None:
                entry = _exercise_entry(folder, state, option, name)
                assert state is not None
                lines = _hint(state, name, entry) if option == HINT else _reveal(state, name, entry)
                save_state(folder, state)
                return cls(config, folder, f"mlbugs: {option}={name} {PRACTICE}={folder}", lines)
        return cls._write(config, registry, folder, state)

    @classmethod
    def _write(
        cls, config: pytest.Config, registry: Registry, folder: Path, state: dict[str, Any] | None
    ) -> PracticeSession:
        opt = config.option
        difficulty = opt.mlbugs_difficulty or (state or {}).get("difficulty", DEFAULT_DIFFICULTY)
        if difficulty not in DIFFICULTIES:
            raise pytest.UsageError(f"{DIFFICULTY}={difficulty}: choose one of {', '.join(DIFFICULTIES)}")
        if opt.mlbugs_seed is not None:
            seed = options._integer(options.SEED, opt.mlbugs_seed, minimum=0, what="a non-negative integer")
        elif state is not None:
            seed = int(state["seed"])
        else:
            seed = random.SystemRandom().randrange(10**6)
        lines: list[str] = []
        if state is not None and (
            opt.mlbugs_practice_new or (state["seed"], state["difficulty"]) != (seed, difficulty)
        ):
            if not opt.mlbugs_practice_new:
                raise pytest.UsageError(
                    f"{PRACTICE}={folder}: holds the exercises of {options.SEED}={state['seed']} "
                    f"{DIFFICULTY}={state['difficulty']}; re-run with those, or add {PRACTICE_NEW} to move "
                    "them aside and start afresh"
                )
            aside = _move_aside(folder, state)
            lines.append(f"moved the exercises of seed {state['seed']} to {aside}")
            state = None
        if state is None and folder.exists() and _foreign_entries(folder):
            raise pytest.UsageError(
                f"{PRACTICE}={folder}: is not empty and holds no exercises; give an empty or new folder"
            )

        known = sorted(builtin_registry().components)
        if opt.mlbugs_components is not None:
            components = list(
                options._names(options.COMPONENTS, opt.mlbugs_components, known=known, kind="component")
            )
        elif state is not None:
            components = sorted(state["exercises"])
        else:
            components = known
        if opt.mlbugs_interview:
            components = [interview_component(components, seed=seed)]

        now = time.time()
        existed = state is not None and bool(state["exercises"])
        if state is None:
            state = {"version": STATE_VERSION, "seed": seed, "difficulty": difficulty, "created": now,
                     "interview": None, "exercises": {}}  # fmt: skip
        writes = _plan_writes(registry, folder, state, components, seed=seed, difficulty=difficulty, now=now)
        if opt.mlbugs_interview:
            name = components[0]
            interview = state.get("interview")
            if not interview or interview["exercise"] != name:
                exercise = make_exercise(registry, name, seed=seed, difficulty=difficulty)
                state["interview"] = {
                    "exercise": name,
                    "prompt": interview_prompt(exercise),
                    "started_at": now,
                }
                state["exercises"][name]["started_at"] = now
            lines.append(f"interview: {state['interview']['prompt']}")
            lines.append(f"the clock is running; `pytest {folder}` tells you when it is fixed")

        folder.mkdir(parents=True, exist_ok=True)
        save_state(folder, state)  # first: the next run knows what each file should hold
        delay = float(os.environ.get(WRITE_DELAY_ENV) or 0)
        for path, text, recorded in writes:
            current = file_digest(path)
            if text is not None and current == digest(text):
                continue
            if current is not None and current != recorded:
                lines.append(f"kept your edited {path.name} (not overwritten)")
                continue
            if text is None:
                continue
            if delay:
                time.sleep(delay)
            write_text_atomically(path, text)
            lines.append(f"wrote {path}")
        header = f"mlbugs: {options.SEED}={seed} {PRACTICE}={folder} {DIFFICULTY}={difficulty}"
        session = cls(config, folder, header, lines)
        session.grading = existed
        if existed:
            practice_grading.register(config)
        if not existed:
            lines.append(f"fix the exercises in {folder}, then run `pytest {folder}` to grade them")
        return session

    # -- hooks --------------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        return [self.header]

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:  # xdist
        node.workerinput[GRADING_KEY] = self.grading

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> None:
        if self.grading and owns_collection(self.config):
            self.config.args[:] = [str(self.folder)]

    def pytest_ignore_collect(self, collection_path: Path, config: pytest.Config) -> bool | None:
        if not self.grading and owns_collection(self.config) and collection_path != config.rootpath:
            return True
        return None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        lines = list(self.lines)
        # when this run graded the folder, the grading plugin prints its progress
        if not (self.grading and owns_collection(self.config)):
            state = load_state(self.folder)
            lines += progress_lines(state) if state is not None else []
        if lines:
            terminalreporter.section("mlbugs practice")
            for line in lines:
                terminalreporter.write_line(line)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.grading and session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
            session.exitstatus = pytest.ExitCode.OK


def _plan_writes(
    registry: Registry,
    folder: Path,
    state: dict[str, Any],
    components: list[str],
    *,
    seed: int,
    difficulty: str,
    now: float,
) -> list[tuple[Path, str | None, str | None]]:
    """Add the new exercises to ``state``; (path, text, recorded hash) of every file to ensure.

    A text of ``None`` marks a file that is there and needs nothing, unless the user edited it.
    """
    writes: list[tuple[Path, str | None, str | None]] = [
        (folder / "conftest.py", practice_grading.CONFTEST, state.get("conftest_sha256"))
    ]
    state["conftest_sha256"] = digest(practice_grading.CONFTEST)
    for name in components:
        entry = state["exercises"].get(name)
        if entry is not None and (folder / entry["file"]).exists() and (folder / entry["test_file"]).exists():
            # nothing to write, so nothing to regenerate; still say which files hold the user's edits
            writes.append((folder / entry["file"], None, entry["sha256"]))
            continue
        try:
            exercise = make_exercise(registry, name, seed=seed, difficulty=difficulty)
        except ExerciseError as exc:
            raise pytest.UsageError(f"{options.COMPONENTS}: {exc}; leave {name} out") from None
        test_text = grading_module(name)
        if entry is None:
            entry = {
                "component": exercise.component,
                "file": exercise.filename,
                "test_file": exercise.test_filename,
                "sha256": digest(exercise.source),
                "test_sha256": digest(test_text),
                "written_at": now,
                "status": UNSOLVED,
                "hints_used": 0,
                "solved_at": None,
                "solve_seconds": None,
                "properties": [p.name for p in registry.components[name].suite.properties],
                "key": encode_key(list(exercise.bugs)),
            }
            state["exercises"][name] = entry
        writes.append((folder / entry["file"], exercise.source, entry["sha256"]))
        writes.append((folder / entry["test_file"], test_text, entry["test_sha256"]))
    return writes


def _foreign_entries(folder: Path) -> list[str]:
    """What the folder holds besides the temporary files an interrupted atomic write leaves."""
    return [p.name for p in folder.iterdir() if not (p.name.startswith(".") and p.name.endswith(".tmp"))]


def _move_aside(folder: Path, state: dict[str, Any]) -> Path:
    if folder.resolve() in (Path.cwd(), *Path.cwd().parents):
        raise pytest.UsageError(
            f"{PRACTICE_NEW}: {folder} is the current folder or holds it; move it aside yourself, "
            f"or give {PRACTICE} a sub-folder"
        )
    folder = folder.resolve()
    base = f"{folder.name}-seed{state['seed']}-{state['difficulty']}"
    aside = folder.with_name(base)
    number = 1
    while aside.exists():
        number += 1
        aside = folder.with_name(f"{base}-{number}")
    folder.rename(aside)
    return aside


# ---------------------------------------------------------------------------------------------
# hints and answers


def _exercise_entry(folder: Path, state: dict[str, Any] | None, option: str, name: str) -> dict[str, Any]:
    if state is None or not state["exercises"]:
        raise pytest.UsageError(
            f"{option}={name}: {folder} holds no exercises; write them first with "
            f"pytest {options.SEED}=N {PRACTICE}={folder}"
        )
    if name not in state["exercises"]:
        raise pytest.UsageError(
            f"{option}={name}: no such exercise in {folder}; one of {', '.join(sorted(state['exercises']))}"
        )
    entry: dict[str, Any] = state["exercises"][name]
    return entry


def hint_text(bug: dict[str, Any], level: int) -> str:
    if level == 1:
        return f"look at the {bug['layer']} layer (step {bug['layer_step']} of the debugging procedure)"
    if level == 2:
        return f"what you would see: {bug['symptom']}"
    if level == 3:
        return f"the bug is in {bug['function']}()"
    return f"line {bug['line']}: {bug['code']}  ({bug['hint']})"


def _hint(state: dict[str, Any], name: str, entry: dict[str, Any]) -> list[str]:
    bugs = decode_key(entry["key"])
    if entry["hints_used"] >= HINT_LEVELS:
        return [f"{name}: no more hints; {REVEAL}={name} shows the answer"]
    entry["hints_used"] += 1
    level = entry["hints_used"]
    lines = [f"{name}: hint {level} of {HINT_LEVELS} ({len(bugs)} bug{'s' if len(bugs) > 1 else ''})"]
    for number, bug in enumerate(bugs, start=1):
        for shown in range(1, level + 1):
            lines.append(f"  bug {number}: {hint_text(bug, shown)}")
    return lines


def _reveal(state: dict[str, Any], name: str, entry: dict[str, Any]) -> list[str]:
    bugs = decode_key(entry["key"])
    if entry["status"] != SOLVED:
        entry["status"] = GIVEN_UP
        entry["given_up_at"] = time.time()
    lines = [f"{name}: {len(bugs)} bug{'s' if len(bugs) > 1 else ''} ({entry['file']})"]
    for bug in bugs:
        lines.append(f"{bug['id']} at line {bug['line']} in {bug['function']}(): {bug['description']}")
        lines.extend("    " + line for line in bug["diff"].splitlines())
        lines.append(f"  why: {bug['explanation']}")
        lines.append(f"  fix: {bug['fix']}")
    return lines
