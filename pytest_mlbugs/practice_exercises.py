"""Practice exercises: a component's code with hidden bugs, on a surface fresh for every seed.

An exercise is the reference with 1 to 3 bugs from our mutators written in (how many, and
whether loud or silent, follows the difficulty), then rewritten by
:func:`pytest_mlbugs.practice_rewrites.rewrite`. The same rewrite of the bug-free reference is
the solution: the diff between the two is exactly the bugs, and each bug's line, function,
diff and explanation are recorded for hints and ``--mlbugs-reveal``.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Sequence
from typing import Any

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from pytest_mlbugs.mutation import MutatorError, Site, apply_sites, find_sites, parse, unified_diff
from pytest_mlbugs.practice_grading import exercise_filename, grading_filename
from pytest_mlbugs.practice_rewrites import identifiers, qualified_function_names, rewrite
from pytest_mlbugs.registry import Registry
from pytest_mlbugs.runner import derive_seed

#: difficulty -> (fewest bugs, most bugs, which bugs are preferred)
DIFFICULTIES: dict[str, tuple[int, int, str]] = {
    "easy": (1, 1, "loud"),
    "medium": (1, 2, "any"),
    "hard": (2, 3, "silent"),
}
DEFAULT_DIFFICULTY = "medium"

_ATTEMPTS = 16


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


def header(component: str, contract: str, names: Sequence[str]) -> str:
    return (
        f'"""Practice exercise: {component} ({contract}).\n\n'
        "This file defines the public names of its contract ("
        + ", ".join(names)
        + "), and something in it is not right. Run `pytest` on this folder: it checks the "
        "contract's properties, and every one must hold.\n"
        '"""\n\n'
    )


def make_exercise(registry: Registry, component_name: str, *, seed: int, difficulty: str) -> Exercise:
    component = registry.components[component_name]
    module = parse(component.reference_source)
    mutators = {m.bug_id: m for m in registry.mutators_for(component_name)}
    sites = {k: v for k, v in find_sites(module, mutators.values()).items() if v}
    if not sites:
        raise ExerciseError(f"no mutator finds a site in {component_name}")
    fewest, most, preference = DIFFICULTIES[difficulty]
    preferred = [
        bug_id for bug_id in sites if preference == "any" or mutators[bug_id].loud == (preference == "loud")
    ] or list(sites)
    wanted = fewest + derive_seed(seed, "practice-count", component_name) % (most - fewest + 1)
    for attempt in range(_ATTEMPTS):
        label = (seed, "practice", component_name, difficulty, attempt)

        def order(ids: Sequence[str], label: tuple[object, ...] = label) -> list[str]:
            return sorted(ids, key=lambda name: derive_seed(*label, "order", name))

        chosen: list[Site] = []
        for bug_id in order(preferred) + order([b for b in sites if b not in preferred]):
            if len(chosen) == wanted:
                break
            free = [s for s in sites[bug_id] if not any(s.overlaps(c) for c in chosen)]
            if free:
                chosen.append(free[derive_seed(*label, "site", bug_id) % len(free)])
        try:
            buggy = apply_sites(module, mutators, [s.key for s in chosen])
        except MutatorError:
            continue  # these bugs do not compose here; the next attempt picks others
        return _finish(
            registry, component_name, module, mutators, chosen, buggy, seed=seed, difficulty=difficulty
        )
    raise ExerciseError(f"no combination of bugs in {component_name} produced valid code")


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
        return header(component_name, component.suite.contract, component.suite.names) + rewrite(
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
                "description": mutator.description,
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
