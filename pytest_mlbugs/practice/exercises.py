"""Practice exercises: a component's code with hidden bugs, on a surface fresh for every seed.

An exercise is the reference with 1 to 3 bugs from our mutators written in (how many, and
whether loud or silent, follows the difficulty), then rewritten by
:func:`pytest_mlbugs.practice.rewrites.rewrite`. The same rewrite of the bug-free reference is
the solution: the diff between the two is exactly the bugs, and each bug's line, function,
diff and explanation are recorded for hints and ``--mlbugs-reveal``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from pytest_mlbugs.failures import contract_reference
from pytest_mlbugs.isolation import PendingVerdict, fork_available
from pytest_mlbugs.judging import judge_variant
from pytest_mlbugs.mutation import MutatorError, Site, apply_sites, find_sites, parse, unified_diff
from pytest_mlbugs.practice.grading import exercise_filename, grading_filename
from pytest_mlbugs.practice.rewrites import identifiers, qualified_function_names, rewrite
from pytest_mlbugs.registry import Registry
from pytest_mlbugs.seeds import derive_seed
from pytest_mlbugs.suite import Suite
from pytest_mlbugs.verdict import Status, Verdict

#: difficulty -> (fewest bugs, most bugs, which bugs are preferred)
DIFFICULTIES: dict[str, tuple[int, int, str]] = {
    "easy": (1, 1, "loud"),
    "medium": (1, 2, "any"),
    "hard": (2, 3, "silent"),
}
DEFAULT_DIFFICULTY = "medium"

_ATTEMPTS = 16
#: seconds one candidate exercise may take to fail its suite before another is tried
JUDGE_TIMEOUT = 60.0


class ExerciseError(Exception):
    """No exercise can be made for this component; the message says why."""


@dataclasses.dataclass(frozen=True)
class Exercise:
    name: str
    component: str
    #: the file the user edits, header included
    source: str
    #: the same surface without the bugs
    solution: str
    #: one record per bug: id, line, function, diff and the catalogue's texts
    bugs: tuple[dict[str, Any], ...]

    @property
    def filename(self) -> str:
        return exercise_filename(self.name)

    @property
    def test_filename(self) -> str:
        return grading_filename(self.name)

    @property
    def loud(self) -> bool:
        return any(bug["loud"] for bug in self.bugs)


def header(suite: Suite) -> str:
    return (
        f'"""Practice exercise: {suite.component} ({suite.contract}).\n\n'
        "This file defines the public names of its contract ("
        + ", ".join(suite.names)
        + "), and something in it is not right. Run `pytest` on this folder: it checks the "
        "contract's properties, and every one must hold.\n\n"
        f"The contract: {contract_reference(suite)}.\n"
        '"""\n\n'
    )


def make_exercise(
    registry: Registry,
    component_name: str,
    *,
    seed: int,
    difficulty: str,
    allowed: Collection[str] | None = None,
    isolation: str = "fork",
    timeout: float = JUDGE_TIMEOUT,
) -> Exercise:
    """The exercise of one component (see :func:`make_exercises`); :class:`ExerciseError`
    when it has none."""
    exercises, problems = make_exercises(
        registry, [component_name], seed=seed, difficulty=difficulty, allowed=allowed,
        isolation=isolation, timeout=timeout,
    )  # fmt: skip
    if component_name in problems:
        raise ExerciseError(problems[component_name])
    return exercises[component_name]


def make_exercises(
    registry: Registry,
    component_names: Sequence[str],
    *,
    seed: int,
    difficulty: str,
    allowed: Collection[str] | None = None,
    isolation: str = "fork",
    timeout: float = JUDGE_TIMEOUT,
) -> tuple[dict[str, Exercise], dict[str, str]]:
    """One exercise per component, each one that its property suite really fails.

    The candidates of a component (:func:`candidate_exercises`) are judged in seed order, as
    written (header and surface rewrites included), with the Hypothesis seeds that grading
    uses; the first that a property fails on is the exercise. A candidate whose bugs survive
    the suite, break the harness or time out is passed over, so the same seed still gives the
    same exercise. ``allowed`` restricts the bug IDs that may be hidden. Returns the exercises
    and, for each component that has none, why.

    All the components are judged in one forked child (``isolation`` other than ``"none"``),
    each candidate under its own in-process time limit there: a child per candidate would pay
    Hypothesis' and torch's warm-up once per component. Should that child die (a crash), each
    candidate is judged again in a child of its own.
    """
    problems: dict[str, str] = {}
    firsts: dict[str, tuple[int, Exercise]] = {}
    for name in dict.fromkeys(component_names):
        try:
            firsts[name] = _first_candidate(registry, name, seed=seed, difficulty=difficulty, allowed=allowed)
        except ExerciseError as exc:
            problems[name] = str(exc)

    def candidates(name: str) -> Iterator[tuple[int, Exercise]]:
        return _candidates(
            registry, name, seed=seed, difficulty=difficulty, allowed=allowed, first=firsts[name]
        )

    def choose(judge: Callable[[Exercise], bool]) -> dict[str, int | None]:
        return {
            name: next((attempt for attempt, exercise in candidates(name) if judge(exercise)), None)
            for name in firsts
        }

    def in_process(exercise: Exercise) -> bool:
        return _fails(registry, exercise, seed=seed, timeout=timeout, isolation="none")

    if not firsts:
        chosen: dict[str, int | None] = {}
    elif isolation == "none" or not fork_available():
        chosen = choose(in_process)
    else:
        batch = PendingVerdict(
            lambda: Verdict(Status.PASSED, 0.0, [], json.dumps(choose(in_process))),
            timeout=timeout * len(firsts) * 2,
            isolation="fork",
        ).result()
        if batch.status == Status.PASSED:
            chosen = json.loads(batch.detail)
        else:  # the child died: one child per candidate, so that only the culprit is lost
            chosen = choose(
                lambda exercise: _fails(registry, exercise, seed=seed, timeout=timeout, isolation="fork")
            )
    exercises = {}
    for name, attempt in chosen.items():
        if attempt is None:
            problems[name] = f"no bug set tried in {name} makes its property suite fail"
        else:
            exercises[name] = next(exercise for index, exercise in candidates(name) if index == attempt)
    return exercises, problems


def _fails(registry: Registry, exercise: Exercise, *, seed: int, timeout: float, isolation: str) -> bool:
    """Whether a property of the suite really fails on the exercise as written."""
    component = registry.components[exercise.component]
    layers = [bug["layer"] for bug in exercise.bugs]
    verdict = PendingVerdict(
        lambda: judge_variant(
            component,
            exercise.source,
            module_name=f"_mlbugs_practice_candidate_{exercise.component}",
            filename=exercise.filename,
            seed=seed,
            layers=layers,
        ),
        timeout=timeout,
        isolation=isolation,
    ).result()
    return verdict.status == Status.DETECTED


def candidate_exercises(
    registry: Registry,
    component_name: str,
    *,
    seed: int,
    difficulty: str,
    allowed: Collection[str] | None = None,
) -> Iterator[Exercise]:
    """The component's possible exercises for the seed, best first, before any judging."""
    first = _first_candidate(registry, component_name, seed=seed, difficulty=difficulty, allowed=allowed)
    for _, exercise in _candidates(
        registry, component_name, seed=seed, difficulty=difficulty, allowed=allowed, first=first
    ):
        yield exercise


def _first_candidate(
    registry: Registry, component_name: str, *, seed: int, difficulty: str, allowed: Collection[str] | None
) -> tuple[int, Exercise]:
    for found in _candidates(registry, component_name, seed=seed, difficulty=difficulty, allowed=allowed):
        return found
    raise ExerciseError(f"no combination of bugs in {component_name} produced valid code")


def _candidates(
    registry: Registry,
    component_name: str,
    *,
    seed: int,
    difficulty: str,
    allowed: Collection[str] | None = None,
    first: tuple[int, Exercise] | None = None,
) -> Iterator[tuple[int, Exercise]]:
    """(attempt, exercise) for every distinct bug set the seed picks, in attempt order.

    ``first`` is the first of them, already made: it is not made again.
    """
    component = registry.components[component_name]
    module = parse(component.reference_source)
    mutators = {
        m.bug_id: m for m in registry.mutators_for(component_name) if allowed is None or m.bug_id in allowed
    }
    sites = {k: v for k, v in find_sites(module, mutators.values()).items() if v}
    if not sites:
        which = "allowed bug" if allowed is not None else "mutator"
        raise ExerciseError(f"no {which} finds a site in {component_name}")
    fewest, most, preference = DIFFICULTIES[difficulty]
    preferred = [
        bug_id for bug_id in sites if preference == "any" or mutators[bug_id].loud == (preference == "loud")
    ] or list(sites)
    wanted = fewest + derive_seed(seed, "practice-count", component_name) % (most - fewest + 1)
    tried: set[frozenset[tuple[str, int]]] = set()
    for attempt in range(_ATTEMPTS):
        label = (seed, "practice", component_name, difficulty, attempt)

        def order(ids: Sequence[str], label: tuple[object, ...] = label) -> list[str]:
            return sorted(ids, key=lambda name: derive_seed(*label, "order", name))

        # the second half of the attempts drops the difficulty's preference: should every
        # preferred bug survive the suite here, the others still make an exercise
        first_choice = preferred if attempt < _ATTEMPTS // 2 else list(sites)
        chosen: list[Site] = []
        for bug_id in order(first_choice) + order([b for b in sites if b not in first_choice]):
            if len(chosen) == wanted:
                break
            free = [s for s in sites[bug_id] if not any(s.overlaps(c) for c in chosen)]
            if free:
                chosen.append(free[derive_seed(*label, "site", bug_id) % len(free)])
        keys = frozenset(s.key for s in chosen)
        if keys in tried:
            continue  # the same bugs again: judged already
        tried.add(keys)
        if first is not None and attempt == first[0]:
            yield first
            continue
        try:
            buggy = apply_sites(module, mutators, [s.key for s in chosen])
        except MutatorError:
            continue  # these bugs do not compose here; the next attempt picks others
        yield (
            attempt,
            _finish(
                registry, component_name, module, mutators, chosen, buggy, seed=seed, difficulty=difficulty
            ),
        )


def _finish(
    registry: Registry,
    component_name: str,
    module: cst.Module,
    mutators: dict[str, Any],
    chosen: list[Site],
    variant: str,
    *,
    seed: int,
    difficulty: str,
) -> Exercise:
    component = registry.components[component_name]
    keep_docstrings = difficulty != "hard"
    avoid = identifiers(component.reference_source) | identifiers(variant)

    def surface(source: str) -> str:
        return header(component.suite) + rewrite(
            source, seed=seed, keep_docstrings=keep_docstrings, avoid=avoid
        )

    solution = surface(component.reference_source)
    exercise = surface(variant)
    functions = _function_lines(exercise)
    exercise_lines = exercise.splitlines()
    combined = difflib.SequenceMatcher(a=solution.splitlines(), b=exercise_lines, autojunk=False)
    bugs = []
    for site in sorted(chosen, key=lambda s: (s.start_line, s.start_column)):
        mutator = mutators[site.bug_id]
        alone = surface(apply_sites(module, {site.bug_id: mutator}, [site.key]))
        line = min(_exercise_line(solution, alone, combined), len(exercise_lines))
        bugs.append(
            {
                "id": site.bug_id,
                "line": line,
                "code": exercise_lines[line - 1].strip() if 0 < line <= len(exercise_lines) else "",
                "function": functions.get(line, "<module>"),
                "diff": unified_diff(solution, alone, fromfile="fixed", tofile=f"with {site.bug_id}"),
                "description": site.description or mutator.description,
                "symptom": mutator.symptom,
                "hint": mutator.hint,
                "fix": mutator.fix,
                "explanation": mutator.explanation(),
                "layer": mutator.layer.value,
                "layer_step": mutator.layer.step,
                "category": mutator.category.value,
                "loud": bool(mutator.loud),
            }
        )
    return Exercise(component_name, component_name, exercise, solution, tuple(bugs))


def _exercise_line(solution: str, alone: str, combined: difflib.SequenceMatcher[str]) -> int:
    """The line of the exercise where the bug that turns ``solution`` into ``alone`` sits."""
    single = difflib.SequenceMatcher(a=solution.splitlines(), b=alone.splitlines(), autojunk=False)
    changed = [op for op in single.get_opcodes() if op[0] != "equal"]
    if not changed:
        return 0
    first = changed[0][1]  # a line of the solution
    for tag, a1, a2, b1, b2 in combined.get_opcodes():
        if a1 <= first < a2 or a1 == a2 == first:
            same_shape = tag == "equal" or (a2 - a1 == b2 - b1)
            return b1 + (first - a1 if same_shape else 0) + 1
    return min(first + 1, len(alone.splitlines()))


def _function_lines(source: str) -> dict[int, str]:
    """Line -> the qualified name of the innermost function around it."""
    wrapper = MetadataWrapper(cst.parse_module(source))
    names = qualified_function_names(wrapper.module)
    spans = [
        (where.start.line, where.end.line, names[id(node)])
        for node, where in wrapper.resolve(PositionProvider).items()
        if isinstance(node, cst.FunctionDef)
    ]
    lines: dict[int, str] = {}
    for start, end, name in sorted(spans, key=lambda span: span[0] - span[1]):  # outermost first
        for line in range(start, end + 1):
            lines[line] = name  # inner functions overwrite outer ones
    return lines


def interview_component(components: Sequence[str], *, seed: int) -> str:
    ordered = sorted(components)
    return ordered[derive_seed(seed, "interview") % len(ordered)]


def interview_prompt(exercise: Exercise) -> str:
    what = exercise.component.replace("_", " ")
    symptom = exercise.bugs[0]["symptom"] if exercise.bugs else "the results look wrong"
    if exercise.loud:
        opening = f"A colleague's {what} code crashes or gives NaNs"
    else:
        opening = f"A colleague's {what} code runs, but the model is not learning as it should"
    return f"{opening}: {symptom}. Find out why and fix it in {exercise.filename}."
