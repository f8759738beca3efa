"""Practice exercises in-process: fresh surfaces that the suites still accept, and no tells."""

from __future__ import annotations

import dataclasses
import functools
import io
import re
import time
import tokenize
from collections.abc import Sequence

import libcst as cst
import pytest

from pytest_mlbugs.api import Category, Layer, Mutator
from pytest_mlbugs.judging import judge_reference, judge_variant
from pytest_mlbugs.practice.exercises import (
    DIFFICULTIES,
    Exercise,
    ExerciseError,
    candidate_exercises,
    make_exercise,
    make_exercises,
)
from pytest_mlbugs.practice.rewrites import identifiers, rewrite
from pytest_mlbugs.registry import builtin_registry
from pytest_mlbugs.verdict import Status

REGISTRY = builtin_registry()
#: seeds per component: suites that take seconds get fewer
SEEDS = {"attention": 2, "decoder": 1, "training": 1, "numerics": 3, "evaluation": 3, "grad_clip": 3}


@functools.cache
def exercises(difficulty: str) -> dict[str, Exercise]:
    """Every component's exercise for seed 11, judged as practice mode judges them (forked)."""
    started = time.perf_counter()
    made, problems = make_exercises(REGISTRY, sorted(REGISTRY.components), seed=11, difficulty=difficulty)
    print(f"{difficulty}: 13 exercises made and judged in {time.perf_counter() - started:.1f} s")
    assert problems == {}
    return made


def _comments(source: str) -> list[str]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [t.string for t in tokens if t.type == tokenize.COMMENT]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REGISTRY.components))
def test_rewritten_reference_passes_its_suite_for_many_seeds(name: str) -> None:
    component = REGISTRY.components[name]
    seeds = range(SEEDS.get(name, 6))
    surfaces = set()
    for seed in seeds:
        source = rewrite(component.reference_source, seed=seed, keep_docstrings=seed % 2 == 0)
        surfaces.add(source)
        rewritten = dataclasses.replace(component, reference_source=source)
        verdict = judge_reference(rewritten, module_name=f"_practice_rewrite_{name}_{seed}", seed=seed)
        assert verdict.status == Status.PASSED, (seed, verdict.failures, verdict.detail, source)
    assert len(surfaces) == len(seeds), "two seeds gave the same surface"


def test_every_rewrite_rule_fires_for_some_seed() -> None:
    attention = REGISTRY.components["attention"].reference_source
    original = identifiers(attention)
    outputs = [rewrite(attention, seed=seed) for seed in range(12)]
    assert any(".mT" in out for out in outputs)
    assert any(" @ " in out for out in outputs)
    assert any("scores.softmax(dim=-1)" in out for out in outputs)
    assert any(re.search(r"= math.sqrt\(self.d_k\)\n.*/ \w+\n", out) for out in outputs), "no extraction"
    assert any(identifiers(out) - original for out in outputs), "no local was ever renamed"
    numerics = REGISTRY.components["numerics"].reference_source
    lines = numerics.splitlines()
    swapped = [
        out
        for out in (rewrite(numerics, seed=seed) for seed in range(12))
        if [ln for ln in out.splitlines() if ln.strip()] != [ln for ln in lines if ln.strip()]
    ]
    assert swapped
    for out in outputs:
        assert "mask" in identifiers(out) and "d_model" in identifiers(out), "a contract name was renamed"


def test_mT_and_matmul_forms_go_both_ways() -> None:
    source = "import torch\n\ndef f(a, b):\n    return torch.matmul(a, b.transpose(-2, -1))\n"
    forms = {rewrite(source, seed=seed) for seed in range(24)}
    assert any("a @ b.mT" in form for form in forms)
    assert any("torch.matmul(a, b.transpose(-2, -1))" in form for form in forms)
    back = {rewrite("import torch\n\ndef f(a, b):\n    return a @ b.mT\n", seed=s) for s in range(24)}
    assert any("torch.matmul(a, b.transpose(-2, -1))" in form for form in back)


@pytest.mark.slow
@pytest.mark.parametrize("difficulty", sorted(DIFFICULTIES))
def test_exercises_carry_no_tells_and_follow_their_difficulty(difficulty: str) -> None:
    telltale = re.compile(r"bug|mutat|mlbugs|wrong|broken|fixme|todo|xxx", re.IGNORECASE)
    for name, exercise in exercises(difficulty).items():
        assert exercise.source != exercise.solution
        assert _comments(exercise.source) == [], name
        new_names = identifiers(exercise.source) - identifiers(REGISTRY.components[name].reference_source)
        # the decoder imports the reference attention from our package: that name is no tell
        spelled = identifiers(exercise.source) - {"pytest_mlbugs"}
        assert not [n for n in spelled | new_names if telltale.search(n)], (name, new_names)
        _, most, preference = DIFFICULTIES[difficulty]
        assert 1 <= len(exercise.bugs) <= most, name
        loud_here = any(m_.loud for m_ in REGISTRY.mutators_for(name))
        if preference == "loud" and loud_here:
            assert exercise.loud, f"an easy {name} exercise has a loud bug when one exists"
        if preference == "silent":
            assert not exercise.loud, name
            assert '"""' not in exercise.source.split('"""', 2)[2], "hard exercises keep no docstrings"
        compile(exercise.source, exercise.filename, "exec")
        lines = exercise.source.splitlines()
        for bug in exercise.bugs:
            assert 1 <= bug["line"] <= len(lines)
            assert bug["diff"].startswith("--- fixed")


def test_the_same_seed_gives_the_same_exercise_and_other_seeds_other_surfaces() -> None:
    first = make_exercise(REGISTRY, "attention", seed=3, difficulty="medium")
    again = make_exercise(REGISTRY, "attention", seed=3, difficulty="medium", isolation="none")
    assert first == again
    solutions = {
        make_exercise(REGISTRY, "attention", seed=s, difficulty="medium", isolation="none").solution
        for s in range(4)
    }
    assert len(solutions) == 4


#: the slow suites: their solutions are judged at one difficulty each
SLOW = {"attention": "easy", "decoder": "medium", "training": "hard"}


@pytest.mark.slow
@pytest.mark.parametrize("difficulty", sorted(DIFFICULTIES))
def test_every_exercise_fails_its_suite_as_written_and_its_solution_passes(difficulty: str) -> None:
    for name, exercise in exercises(difficulty).items():
        component = REGISTRY.components[name]
        verdict = judge_variant(
            component, exercise.source, module_name=f"_judged_{name}", filename=exercise.filename, seed=11
        )
        assert verdict.status == Status.DETECTED, (name, verdict)
        if SLOW.get(name, difficulty) != difficulty:
            continue
        fixed = dataclasses.replace(component, reference_source=exercise.solution)
        verdict = judge_reference(fixed, module_name=f"_solution_{name}_{difficulty}", seed=11)
        assert verdict.status == Status.PASSED, (name, verdict.failures, verdict.detail)


class HexLiteral(Mutator):
    """Writes an integer literal in hexadecimal: the same program, so no property can fail."""

    bug_id = "hex_literal"
    components = ("masks",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "write a literal in hexadecimal"
    symptom = "none"
    hint = "none"
    fix = "none"
    loud = True  # preferred at easy, so that it is picked first for many seeds
    node_types = (cst.Integer,)

    def mutations(self, node: cst.CSTNode) -> Sequence[cst.CSTNode]:
        assert isinstance(node, cst.Integer)
        return () if node.value.startswith("0x") else (node.with_changes(value=hex(int(node.value))),)


def test_a_bug_set_the_suite_does_not_catch_is_passed_over_for_the_next_one_of_the_seed() -> None:
    registry = REGISTRY.copy()
    registry.add_mutator(HexLiteral)
    allowed = {"hex_literal", "causal_mask_off_by_one"}
    for seed in (0, 1):
        # at easy the loud equivalent bug is preferred: every seed's first candidate hides it alone
        first = next(candidate_exercises(registry, "masks", seed=seed, difficulty="easy", allowed=allowed))
        assert [bug["id"] for bug in first.bugs] == ["hex_literal"]
        chosen = make_exercise(
            registry, "masks", seed=seed, difficulty="easy", allowed=allowed, isolation="none"
        )
        assert [bug["id"] for bug in chosen.bugs] == ["causal_mask_off_by_one"]
    forked = make_exercise(registry, "masks", seed=0, difficulty="easy", allowed=allowed)
    assert forked == make_exercise(
        registry, "masks", seed=0, difficulty="easy", allowed=allowed, isolation="none"
    )
    with pytest.raises(ExerciseError, match="makes its property suite fail"):
        make_exercise(registry, "masks", seed=0, difficulty="easy", allowed={"hex_literal"}, isolation="none")


def test_helpers_are_extracted_and_inlined_and_the_suites_seeds_cover_both() -> None:
    """Within the seeds that test_rewritten_reference_passes_its_suite_for_many_seeds judges,
    attention gets an extracted helper and optimization loses its inlined one."""
    attention = REGISTRY.components["attention"]
    extracted = [rewrite(attention.reference_source, seed=s) for s in range(SEEDS["attention"])]
    assert any(re.search(r"^def (_\w+)\(.*\n(?:.*\n)*.*= \1\(", out, re.MULTILINE) for out in extracted)
    optimization = REGISTRY.components["optimization"]
    inlined = [rewrite(optimization.reference_source, seed=s) for s in range(SEEDS.get("optimization", 6))]
    assert any("_is_normalization" not in out for out in inlined)
    assert any("_is_normalization(module)" in out for out in inlined), "inlining is a choice"
    for out in extracted + inlined:
        defined = set(re.findall(r"^(?:class|def) (\w+)", out, re.MULTILINE))
        suite = attention.suite if "MultiHeadAttention" in out else optimization.suite
        assert set(suite.names) <= defined, "a contract name was renamed or removed"


def test_an_extracted_helper_takes_locals_and_attributes_and_keeps_globals() -> None:
    source = (
        "import math\n\n\nclass A:\n    def f(self, x, y):\n"
        "        z = x * math.sqrt(self.d_k) + y\n        return z\n"
    )
    outputs = {rewrite(source, seed=seed) for seed in range(40)}
    helper = "def _z(x, d_k, y):\n    return x * math.sqrt(d_k) + y\n"
    assert any(helper in out and "z = _z(x, self.d_k, y)" in out for out in outputs)
    for out in outputs:
        namespace: dict[str, object] = {}
        exec(compile(out, "<rewritten>", "exec"), namespace)
        instance = namespace["A"]()
        instance.d_k = 4  # type: ignore[attr-defined]
        assert instance.f(3.0, 1.0) == 7.0  # type: ignore[attr-defined]
