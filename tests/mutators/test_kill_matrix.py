"""The kill matrix: every mutator at every site of every reference is detected, and every
reference passes its whole suite. No survivor is waved through."""

from __future__ import annotations

import pytest

from pytest_mlbugs.generator import all_single_bug_variants
from pytest_mlbugs.isolation import run_isolated
from pytest_mlbugs.judging import judge_planned, judge_reference
from pytest_mlbugs.registry import builtin_registry
from pytest_mlbugs.verdict import Status

REGISTRY = builtin_registry()
SEED = 20261123


@pytest.mark.parametrize("name", sorted(REGISTRY.components))
def test_reference_passes_every_property(name):
    component = REGISTRY.components[name]
    verdict = judge_reference(component, module_name=f"_mlbugs_kill_reference_{name}", seed=SEED)
    assert verdict.status == Status.PASSED, (verdict.detail, verdict.failures)


VARIANTS = all_single_bug_variants(REGISTRY, sorted(REGISTRY.components))


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: f"{v.component}-{v.label}-{v.bugs[0].site}")
def test_every_site_of_every_mutator_is_detected(variant):
    verdict = run_isolated(lambda: judge_planned(REGISTRY, variant, seed=SEED), timeout=120, isolation="fork")
    assert verdict.status == Status.DETECTED, f"{verdict.status}: {verdict.detail}\n{variant.diff}"
