"""Practice exercises in-process: fresh surfaces that the suites still accept, and no tells."""

from __future__ import annotations

import dataclasses
import io
import re
import tokenize

import pytest

from pytest_mlbugs.practice_exercises import DIFFICULTIES, make_exercise
from pytest_mlbugs.practice_rewrites import identifiers, rewrite
from pytest_mlbugs.registry import builtin_registry
from pytest_mlbugs.runner import PASSED, judge_reference

REGISTRY = builtin_registry()
#: seeds per component: suites that take seconds get fewer
SEEDS = {"attention": 2, "decoder": 1, "training": 1, "numerics": 3, "evaluation": 3, "grad_clip": 3}


def _comments(source: str) -> list[str]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return [t.string for t in tokens if t.type == tokenize.COMMENT]


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
        assert verdict.status == PASSED, (seed, verdict.failures, verdict.detail, source)
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


@pytest.mark.parametrize("difficulty", sorted(DIFFICULTIES))
def test_exercises_carry_no_tells_and_follow_their_difficulty(difficulty: str) -> None:
    telltale = re.compile(r"bug|mutat|mlbugs|wrong|broken|fixme|todo|xxx", re.IGNORECASE)
    for name in sorted(REGISTRY.components):
        exercise = make_exercise(REGISTRY, name, seed=11, difficulty=difficulty)
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
    again = make_exercise(REGISTRY, "attention", seed=3, difficulty="medium")
    assert first == again
    solutions = {make_exercise(REGISTRY, "attention", seed=s, difficulty="medium").solution for s in range(4)}
    assert len(solutions) == 4
