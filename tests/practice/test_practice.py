"""Practice mode from the command line: writing, grading, hints, interviews, and never losing work.

Subprocess runs (see test_plugin.py for why). Components with quick suites (masks, data) keep
each run to a few seconds.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_mlbugs.practice.exercises import Exercise, make_exercise
from pytest_mlbugs.practice.grading import CONFTEST, STATE_FILE, decode_key, exercise_filename, grading_module
from pytest_mlbugs.practice.session import choose_components
from pytest_mlbugs.registry import Registry, builtin_registry
from tests.support.paths import PLUGIN_EXAMPLE

REGISTRY = builtin_registry()
PLUGINS = ("-p", "no:cacheprovider", "-p", "no:benchmark")
COMPONENTS = "--mlbugs-components=masks,data"


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*PLUGINS, *args)


def state(folder: Path) -> dict:
    return json.loads((folder / STATE_FILE).read_text())


@functools.cache
def exercise_of(name: str, seed: int, difficulty: str = "medium") -> Exercise:
    """As practice mode makes it; judged in a forked child, as practice mode judges it: judged
    in this process, torch's lazy imports would land in pytester's sys.modules snapshot, which
    drops them after the test, and torch refuses to register its operator libraries twice."""
    return make_exercise(REGISTRY, name, seed=seed, difficulty=difficulty)


def expected_files(seed: int, names: tuple[str, ...], difficulty: str = "medium") -> dict[str, str]:
    files = {"conftest.py": CONFTEST}
    for name in names:
        exercise = exercise_of(name, seed, difficulty)
        files[exercise.filename] = exercise.source
        files[exercise.test_filename] = grading_module(name)
    return files


def solve(folder: Path, name: str, *, seed: int, difficulty: str = "medium") -> None:
    (folder / exercise_filename(name)).write_text(exercise_of(name, seed, difficulty).solution)


@pytest.mark.slow
def test_practice_writes_exercises_that_pytest_dir_grades_until_they_are_solved(
    pytester: pytest.Pytester,
) -> None:
    folder = pytester.path / "ex"
    first = run(pytester, "--mlbugs-seed=42", "--mlbugs-practice=ex", COMPONENTS)
    assert first.ret == 0, first.stdout.str()
    for name, text in expected_files(42, ("masks", "data")).items():
        assert (folder / name).read_text() == text
    first.stdout.fnmatch_lines(["*mlbugs: --mlbugs-seed=42 --mlbugs-practice=ex*", "masks*unsolved*s ago*0"])

    graded = run(pytester, "ex")  # no --mlbugs option: the folder grades itself
    assert graded.ret == 1
    graded.stdout.fnmatch_lines(
        [
            "*does not hold:*",
            "*in training this shows as:*",
            "*debugging layer ? of 7 (*) in the procedure data -> target -> shapes -> loss -> numerics -> "
            "updates -> evaluation",
            "*mlbugs practice progress*",
        ]
    )

    solve(folder, "masks", seed=42)
    solve(folder, "data", seed=42)
    again = run(pytester, "--mlbugs-practice=ex")  # re-running the first command grades too
    assert again.ret == 0, again.stdout.str()
    again.stdout.fnmatch_lines(
        ["data: solved, every property holds", "masks: solved, *", "2 solved, 0 unsolved, 0 given up"]
    )
    assert {e["status"] for e in state(folder)["exercises"].values()} == {"solved"}


@pytest.mark.slow
def test_rerun_with_the_same_seed_never_overwrites_an_edited_exercise(pytester: pytest.Pytester) -> None:
    folder = pytester.path / "ex"
    assert run(pytester, "--mlbugs-seed=7", "--mlbugs-practice=ex", COMPONENTS).ret == 0
    edited = "# my attempt\n" + (folder / "exercise_masks.py").read_text()
    (folder / "exercise_masks.py").write_text(edited)
    (folder / "test_exercise_data.py").unlink()
    result = run(pytester, "--mlbugs-seed=7", "--mlbugs-practice=ex", COMPONENTS, "-k", "nothing")
    result.stdout.fnmatch_lines(
        ["kept your edited exercise_masks.py (not overwritten)", "wrote ex/test_exercise_data.py"]
    )
    assert (folder / "exercise_masks.py").read_text() == edited
    assert (folder / "test_exercise_data.py").read_text() == grading_module("data")


@pytest.mark.slow
def test_another_seed_is_refused_and_practice_new_moves_the_old_set_aside(pytester: pytest.Pytester) -> None:
    folder = pytester.path / "ex"
    assert run(pytester, "--mlbugs-seed=1", "--mlbugs-practice=ex", "--mlbugs-components=masks").ret == 0
    (folder / "exercise_masks.py").write_text((folder / "exercise_masks.py").read_text() + "\n# my notes\n")
    refused = run(pytester, "--mlbugs-seed=2", "--mlbugs-practice=ex", "--mlbugs-components=masks")
    assert refused.ret == 4
    errors = usage_errors(refused)
    assert len(errors) == 1 and "--mlbugs-practice-new" in errors[0], refused.stderr.str()

    fresh = run(
        pytester,
        "--mlbugs-seed=2",
        "--mlbugs-practice=ex",
        "--mlbugs-components=masks",
        "--mlbugs-practice-new",
    )
    assert fresh.ret == 0, fresh.stdout.str()
    aside = pytester.path / "ex-seed1-medium"
    assert (aside / "exercise_masks.py").read_text().endswith("# my notes\n"), "the old set was not kept"
    assert state(folder)["seed"] == 2
    assert (folder / "exercise_masks.py").read_text() == expected_files(2, ("masks",))["exercise_masks.py"]


@pytest.mark.slow
def test_hints_are_progressive_and_reveal_marks_the_exercise_given_up(pytester: pytest.Pytester) -> None:
    folder = pytester.path / "ex"
    assert run(pytester, "--mlbugs-seed=5", "--mlbugs-practice=ex", "--mlbugs-components=masks").ret == 0
    bug = exercise_of("masks", 5, "medium").bugs[0]
    first = run(pytester, "--mlbugs-practice=ex", "--mlbugs-hint=masks")
    assert first.ret == 0
    first.stdout.fnmatch_lines([f"*bug 1: look at the {bug['layer']} layer*"])
    assert "what you would see" not in first.stdout.str()
    second = run(pytester, "--mlbugs-practice=ex", "--mlbugs-hint=masks")
    second.stdout.fnmatch_lines(["*hint 2 of 4*", f"*bug 1: what you would see: {bug['symptom']}*"])
    assert state(folder)["exercises"]["masks"]["hints_used"] == 2

    revealed = run(pytester, "--mlbugs-practice=ex", "--mlbugs-reveal=masks")
    assert revealed.ret == 0
    revealed.stdout.fnmatch_lines(
        [f"{bug['id']} at line {bug['line']} in {bug['function']}(): *", "*--- fixed", "  why: *", "  fix: *"]
    )
    assert state(folder)["exercises"]["masks"]["status"] == "given up"


@pytest.mark.slow
def test_interview_prints_a_prompt_and_records_the_time_to_solve(pytester: pytest.Pytester) -> None:
    folder = pytester.path / "ex"
    result = run(pytester, "--mlbugs-seed=9", "--mlbugs-practice=ex", COMPONENTS, "--mlbugs-interview")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["interview: A colleague's * code *: *. Find out why and fix it in *.py."])
    written = state(folder)
    (name,) = written["exercises"]
    assert written["interview"]["exercise"] == name
    solve(folder, name, seed=9)
    graded = run(pytester, "ex")
    assert graded.ret == 0, graded.stdout.str()
    solved = state(folder)["exercises"][name]
    assert solved["status"] == "solved" and solved["solve_seconds"] > 0


@pytest.mark.slow
def test_bad_practice_options_are_one_line_usage_errors(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--mlbugs-practice=ex", "--mlbugs-difficulty=extreme")
    assert result.ret == 4
    assert usage_errors(result) == ["ERROR: --mlbugs-difficulty=extreme: choose one of easy, medium, hard"]
    # the shared options are checked as the seeded session checks them
    for args, error in (
        (
            ["--mlbugs-mutators=no_such_bug"],
            "ERROR: --mlbugs-mutators: unknown bug ID no_such_bug; run pytest --mlbugs-list to see the bug*",
        ),
        (
            ["--mlbugs-components=attention", "--mlbugs-mutators=causal_mask_off_by_one"],
            "ERROR: --mlbugs-mutators: none of these bugs applies to attention; add one of its bugs (*) "
            "or leave attention out of --mlbugs-components",
        ),
    ):
        refused = run(pytester, "--mlbugs-seed=1", "--mlbugs-practice=ex", *args)
        assert refused.ret == 4, args
        (line,) = usage_errors(refused)
        assert fnmatch.fnmatch(line, error), line
    assert not (pytester.path / "ex").exists()
    pytester.makepyfile(mine="x = 1\n")
    (pytester.path / "own").mkdir()
    (pytester.path / "own" / "notes.txt").write_text("mine")
    foreign = run(pytester, "--mlbugs-seed=1", "--mlbugs-practice=own")
    assert foreign.ret == 4
    assert "holds no exercises" in foreign.stderr.str()
    assert sorted(p.name for p in (pytester.path / "own").iterdir()) == ["notes.txt"]


def usage_errors(result: pytest.RunResult) -> list[str]:
    """pytest's usage-error lines, and proof that nothing else went wrong: no traceback.

    Other stderr lines are not ours to count (torch warns on import when numpy is missing)."""
    assert "Traceback" not in result.stderr.str()
    return [line for line in result.stderr.lines if line.startswith("ERROR:")]


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


@pytest.mark.slow
def test_a_run_killed_while_writing_leaves_no_torn_file_and_the_next_run_completes(tmp_path: Path) -> None:
    folder = tmp_path / "ex"
    expected = expected_files(3, ("masks", "data"))
    command = [
        sys.executable,
        "-m",
        "pytest",
        *PLUGINS,
        "--mlbugs-seed=3",
        "--mlbugs-practice=ex",
        COMPONENTS,
    ]
    env = {**os.environ, "MLBUGS_PRACTICE_WRITE_DELAY": "0.3"}

    def check_every_file_old_or_new() -> None:
        for path in folder.iterdir():
            if path.name == STATE_FILE:
                json.loads(path.read_text())  # parses: never torn
            elif not path.name.endswith(".tmp"):
                assert path.read_text() == expected[path.name], f"{path.name} is torn"

    killed_with = []
    for wait in (0.0, 0.45, 1.05):
        before = _mtime(folder / STATE_FILE)
        process = subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        # the state file is (re)written just before the exercise files: then the writing starts
        while (
            _mtime(folder / STATE_FILE) == before and process.poll() is None and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        time.sleep(wait)
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed_with.append(sum(1 for p in folder.iterdir() if p.name in expected))
        check_every_file_old_or_new()
    assert killed_with[0] < len(expected), "the kill came too late to test anything"
    assert any(0 < count < len(expected) for count in killed_with), f"no kill fell mid-set: {killed_with}"

    finished = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    # the exercises exist now, so the run grades them: unsolved, they fail (exit 1), no error
    assert finished.returncode == 1, finished.stdout + finished.stderr
    assert "mlbugs practice progress" in finished.stdout
    assert "kept your edited" not in finished.stdout
    for name, text in expected.items():
        assert (folder / name).read_text() == text
    assert set(state(folder)["exercises"]) == {"masks", "data"}


def test_mutators_restrict_the_hidden_bugs_and_count_caps_the_exercises(pytester: pytest.Pytester) -> None:
    allowed = "--mlbugs-mutators=causal_mask_off_by_one,split_indices_overlap,unbiased_variance"
    result = run(pytester, "--mlbugs-seed=6", "--mlbugs-practice=ex", allowed, "--mlbugs-count=2")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    exercises = state(pytester.path / "ex")["exercises"]
    expected = choose_components(
        REGISTRY,
        named=None,
        allowed={"causal_mask_off_by_one", "split_indices_overlap", "unbiased_variance"},
        count=2,
        previous=None,
        seed=6,
    )
    assert sorted(exercises) == expected
    assert set(expected) <= {"masks", "data", "normalization"}
    for entry in exercises.values():
        assert {bug["id"] for bug in decode_key(entry["key"])} <= {
            "causal_mask_off_by_one",
            "split_indices_overlap",
            "unbiased_variance",
        }


def test_count_picks_by_seed_and_every_registered_component_is_offered(monkeypatch) -> None:
    registry = _with_example()
    every = choose_components(registry, named=None, allowed=None, count=None, previous=None, seed=1)
    assert every == sorted([*REGISTRY.components, "label_smoothing"])
    picks = {
        tuple(choose_components(registry, named=None, allowed=None, count=3, previous=None, seed=seed))
        for seed in range(8)
    }
    assert all(len(p) == 3 and set(p) <= set(every) for p in picks)
    assert len(picks) > 1, "the seed does not choose"
    only = choose_components(
        registry, named=None, allowed={"smoothing_not_divided_by_classes"}, count=None, previous=None, seed=1
    )
    assert only == ["label_smoothing"]


EXAMPLE = PLUGIN_EXAMPLE


def _with_example() -> Registry:
    """The built-in registry plus the worked example's component and mutator, imported from the tree."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        from mlbugs_plugin_example.component import component
        from mlbugs_plugin_example.mutators import SmoothingNotDividedByClasses
    finally:
        sys.path.remove(str(EXAMPLE))
    registry = builtin_registry()
    registry.add_component(component())
    registry.add_mutator(SmoothingNotDividedByClasses)
    return registry


@pytest.mark.slow
def test_an_installed_extension_component_gets_an_exercise_that_its_folder_grades(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = pytester.path.parent / f"{pytester.path.name}-site"
    shutil.copytree(EXAMPLE / "mlbugs_plugin_example", site / "mlbugs_plugin_example")
    info = site / "mlbugs_plugin_example-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mlbugs-plugin-example\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "[pytest_mlbugs.components]\nlabel_smoothing = mlbugs_plugin_example.component:component\n\n"
        "[pytest_mlbugs.mutators]\n"
        "smoothing_not_divided_by_classes = mlbugs_plugin_example.mutators:SmoothingNotDividedByClasses\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(site))
    folder = pytester.path / "ex"
    written = run(pytester, "--mlbugs-seed=2", "--mlbugs-practice=ex", "--mlbugs-components=label_smoothing")
    assert written.ret == 0, written.stdout.str() + written.stderr.str()
    exercise = make_exercise(_with_example(), "label_smoothing", seed=2, difficulty="medium")
    assert (folder / "exercise_label_smoothing.py").read_text() == exercise.source

    graded = run(pytester, "ex")
    assert graded.ret == 1
    graded.stdout.fnmatch_lines(["*label_smoothing.* does not hold:*"])
    (folder / "exercise_label_smoothing.py").write_text(exercise.solution)
    solved = run(pytester, "ex")
    assert solved.ret == 0, solved.stdout.str()
    solved.stdout.fnmatch_lines(["label_smoothing: solved, every property holds"])


@pytest.mark.slow
def test_grading_under_xdist_gives_the_serial_verdicts(pytester: pytest.Pytester) -> None:
    """``pytest -n 2 DIR`` grades as ``pytest DIR`` does: the same properties fail, the same
    exercises are solved, and the progress table agrees."""
    assert run(pytester, "--mlbugs-seed=42", "--mlbugs-practice=ex", COMPONENTS).ret == 0
    solve(pytester.path / "ex", "data", seed=42)

    def verdicts(result: pytest.RunResult) -> tuple[list[str], list[str]]:
        lines = result.stdout.lines
        failed = sorted(line.split()[1] for line in lines if line.startswith("FAILED "))
        table = sorted(line.split()[:2] for line in lines if line.split()[:1] in (["masks"], ["data"]))
        return failed, [" ".join(row) for row in table]

    serial = run(pytester, "ex", "-rf")
    parallel = run(pytester, "ex", "-rf", "-n", "2")
    assert serial.ret == parallel.ret == 1
    assert verdicts(serial)[0], serial.stdout.str()  # masks is still unsolved: something fails
    assert verdicts(parallel) == verdicts(serial)
    assert "data solved" in verdicts(serial)[1] and "masks unsolved" in verdicts(serial)[1]
