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
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_mlbugs import options
from pytest_mlbugs.atomicio import write_text_atomically
from pytest_mlbugs.collection import owns_collection
from pytest_mlbugs.practice import grading
from pytest_mlbugs.practice.exercises import (
    DEFAULT_DIFFICULTY,
    DIFFICULTIES,
    Exercise,
    interview_component,
    interview_prompt,
    make_exercises,
)
from pytest_mlbugs.practice.grading import (
    GIVEN_UP,
    SOLVED,
    STATE_FILE,
    STATE_VERSION,
    UNSOLVED,
    StateError,
    decode_key,
    digest,
    encode_key,
    file_digest,
    grading_filename,
    grading_module,
    load_state,
    progress_lines,
    save_state,
)
from pytest_mlbugs.practice.options import (
    DEFAULT_FOLDER,
    DIFFICULTY,
    HINT,
    INTERVIEW,
    PRACTICE,
    PRACTICE_NEW,
    REVEAL,
)
from pytest_mlbugs.registry import Registry
from pytest_mlbugs.seeds import derive_seed

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
        # the shared options (seed, count, mutators, components, timeout, isolation) mean here
        # what they mean in a seeded session, and bad values get the same one-line errors
        settings = options.parse_settings(config, registry, seed_from_controller=None)
        if settings.seed_was_given or state is None:
            seed = settings.seed
        else:
            seed = int(state["seed"])
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

        named = settings.components if opt.mlbugs_components is not None else None
        allowed = frozenset(settings.mutators) if opt.mlbugs_mutators is not None else None
        components = choose_components(
            registry,
            named=named,
            allowed=allowed,
            count=settings.count,
            previous=None if state is None else sorted(state["exercises"]),
            seed=seed,
        )
        if opt.mlbugs_interview:
            components = [interview_component(components, seed=seed)]

        now = time.time()
        existed = state is not None and bool(state["exercises"])
        if state is None:
            state = {"version": STATE_VERSION, "seed": seed, "difficulty": difficulty, "created": now,
                     "interview": None, "exercises": {}}  # fmt: skip
        writes, left_out = _plan_writes(
            registry,
            folder,
            state,
            components,
            settings=settings,
            allowed=allowed,
            components_named=named is not None,
            seed=seed,
            difficulty=difficulty,
            now=now,
        )
        lines.extend(left_out)
        if opt.mlbugs_interview:
            name = components[0]
            interview = state.get("interview")
            if name not in state["exercises"]:
                raise pytest.UsageError(f"{INTERVIEW}: {left_out[0]}; give another {options.SEED}")
            if not interview or interview["exercise"] != name:
                entry = state["exercises"][name]
                exercise = Exercise(name, entry["component"], "", "", tuple(decode_key(entry["key"])))
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
            grading.register(config)
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


def choose_components(
    registry: Registry,
    *,
    named: Sequence[str] | None,
    allowed: Collection[str] | None,
    count: int | None,
    previous: Sequence[str] | None,
    seed: int,
) -> list[str]:
    """The components that get an exercise this run, in the order named, else sorted.

    Named with ``--mlbugs-components``, else those of the folder's earlier runs, else every
    registered component (extensions included). ``--mlbugs-mutators`` leaves out a component
    that none of its bugs applies to (a usage error when it was named); ``--mlbugs-count=N``
    keeps N of them, chosen by the seed.
    """
    if named is not None:
        components = list(named)
    elif previous and count is None:
        components = [name for name in previous if name in registry.components]
    else:
        components = sorted(registry.components)
    if allowed is not None:
        usable = {
            name for name in components if any(m.bug_id in allowed for m in registry.mutators_for(name))
        }
        for name in components:
            if named is not None and name not in usable:
                mine = ", ".join(sorted(m.bug_id for m in registry.mutators_for(name))) or "none"
                raise pytest.UsageError(
                    f"{options.MUTATORS}: none of these bugs applies to {name}; add one of its bugs "
                    f"({mine}) or leave {name} out of {options.COMPONENTS}"
                )
        components = [name for name in components if name in usable]
        if not components:
            raise pytest.UsageError(
                f"{options.MUTATORS}: none of these bugs applies to any component; see {options.LIST}"
            )
    if count is not None:
        picked = set(sorted(components, key=lambda name: derive_seed(seed, "practice-pick", name))[:count])
        components = [name for name in components if name in picked]
    return components


def _plan_writes(
    registry: Registry,
    folder: Path,
    state: dict[str, Any],
    components: list[str],
    *,
    settings: options.Settings,
    allowed: Collection[str] | None,
    components_named: bool,
    seed: int,
    difficulty: str,
    now: float,
) -> tuple[list[tuple[Path, str | None, str | None]], list[str]]:
    """Add the new exercises to ``state``; (path, text, recorded hash) of every file to ensure,
    and a line for each component left out.

    A text of ``None`` marks a file that is there and needs nothing, unless the user edited it.
    """
    writes: list[tuple[Path, str | None, str | None]] = [
        (folder / "conftest.py", grading.CONFTEST, state.get("conftest_sha256"))
    ]
    state["conftest_sha256"] = digest(grading.CONFTEST)
    complete = []
    missing = []
    for name in components:
        entry = state["exercises"].get(name)
        if entry is not None and (folder / entry["file"]).exists() and (folder / entry["test_file"]).exists():
            complete.append(name)
        else:
            missing.append(name)
    exercises, problems = make_exercises(
        registry,
        missing,
        seed=seed,
        difficulty=difficulty,
        allowed=allowed,
        isolation="none" if settings.isolation == "none" else "fork",
        timeout=settings.timeout,
    )
    taken = _test_modules_beside(folder) if exercises else set()
    left_out = []
    for name, problem in problems.items():
        if components_named:
            raise pytest.UsageError(f"{options.COMPONENTS}: {problem}; leave {name} out")
        left_out.append(f"no exercise for {name}: {problem}")
    for name in components:
        entry = state["exercises"].get(name)
        if name in complete:
            # nothing to write, so nothing to regenerate; still say which files hold the user's edits
            writes.append((folder / entry["file"], None, entry["sha256"]))
            continue
        if name not in exercises:
            continue
        exercise = exercises[name]
        test_text = grading_module(name)
        if entry is None:
            entry = {
                "component": exercise.component,
                "file": exercise.filename,
                "test_file": _free_test_filename(name, taken),
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
    return writes, left_out


def _test_modules_beside(folder: Path) -> set[str]:
    """The test modules of the other practice folders beside this one (those moved aside by
    :data:`PRACTICE_NEW`, those of earlier versions included): a plain ``pytest`` collects them
    all, and refuses two test modules of one name in folders without ``__init__.py``."""
    folder = folder.resolve()
    if not folder.parent.is_dir():
        return set()
    return {
        module.name
        for sibling in folder.parent.iterdir()
        if sibling != folder and (sibling / STATE_FILE).is_file()
        for module in sibling.glob("test_*.py")
    }


def _free_test_filename(name: str, taken: Collection[str]) -> str:
    number = 1
    while grading_filename(name, number) in taken:
        number += 1
    return grading_filename(name, number)


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
