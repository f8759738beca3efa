"""Variants of several bugs (``--mlbugs-max-bugs=K``): the extra bugs come from other families,
and the verdict judges each bug alone, saying whether the suite told the bugs apart and which of
them the failure of the whole variant points to."""

from __future__ import annotations

import pytest

from pytest_mlbugs.generator import SiteIndex, Variant, all_single_bug_variants, plan_session
from pytest_mlbugs.isolation import run_isolated
from pytest_mlbugs.judging import find_counterexample, judge_planned, judge_variant
from pytest_mlbugs.loader import load_source
from pytest_mlbugs.mutation import Site
from pytest_mlbugs.registry import builtin_registry
from pytest_mlbugs.seeds import derive_seed
from pytest_mlbugs.session.report import Results, several_bugs_lines
from pytest_mlbugs.verdict import Status, Verdict

REGISTRY = builtin_registry()
COMPONENTS = sorted(REGISTRY.components)
SEED = 20261204


def several_bug_variants(seed: int, count: int) -> list[Variant]:
    variants = plan_session(
        REGISTRY,
        seed=seed,
        components=COMPONENTS,
        mutators=sorted(REGISTRY.mutators),
        count=count,
        max_bugs=3,
    )
    return [v for v in variants if len(v.bugs) > 1]


def categories(variant: Variant) -> list[str]:
    return [REGISTRY.mutators[bug.bug_id].category.value for bug in variant.bugs]


SITES = SiteIndex(REGISTRY, COMPONENTS).sites


def free_sites_of_missing_families(variant: Variant) -> list[str]:
    """Mutators of a family the variant lacks with a site clear of all the variant's bugs."""
    taken = [Site(b.bug_id, b.site, 0, b.line, b.column, b.end_line, b.end_column) for b in variant.bugs]
    present = set(categories(variant))
    return [
        bug_id
        for bug_id, sites in SITES[variant.component].items()
        if REGISTRY.mutators[bug_id].category.value not in present
        and any(not any(site.overlaps(t) for t in taken) for site in sites)
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_bugs_of_a_variant_come_from_different_families_where_a_free_site_allows(seed):
    variants = several_bug_variants(seed, count=200)
    assert len(variants) > 50
    repeats = 0
    for variant in variants:
        found = categories(variant)
        if len(set(found)) < len(found):
            repeats += 1
            assert free_sites_of_missing_families(variant) == [], (
                f"{variant.component}: {variant.label} repeats a family ({found})"
            )
    # a component whose bugs span few families (nearly every schedule bug is an optimization
    # bug, every checkpoint bug is about state) repeats a family whenever it carries three bugs
    assert repeats < len(variants) / 3


def test_a_single_bug_session_is_planned_as_before_families_were_considered():
    # max_bugs=1 draws nothing for extra bugs: a seed's single-bug plan is unchanged, and its
    # variants carry no separate sources.
    variants = plan_session(REGISTRY, seed=42, components=COMPONENTS, mutators=sorted(REGISTRY.mutators))
    assert all(len(v.bugs) == 1 and v.solo_sources == () for v in variants)


def test_each_bug_alone_is_the_reference_with_that_one_bug_written_at_the_same_site():
    singles = {
        (v.component, v.bugs[0].bug_id, v.bugs[0].site): v.source
        for v in all_single_bug_variants(REGISTRY, COMPONENTS)
    }
    for variant in several_bug_variants(7, count=60):
        assert len(variant.solo_sources) == len(variant.bugs)
        for bug, solo in zip(variant.bugs, variant.solo_sources, strict=True):
            assert solo == singles[(variant.component, bug.bug_id, bug.site)]
        assert variant.source not in variant.solo_sources


def judge(variant: Variant, *, solos: bool) -> Verdict:
    return run_isolated(
        lambda: judge_planned(REGISTRY, variant, seed=SEED, solo=solos), timeout=120, isolation="fork"
    )


def judge_alone_by_hand(variant: Variant, number: int, pointer: str) -> tuple[str, bool]:
    """The bug alone judged as a variant of its own, and whether the case on which ``pointer``
    failed on the whole variant makes it fail on the bug alone too."""
    component = REGISTRY.components[variant.component]
    bug = variant.bugs[number]
    source = variant.solo_sources[number]

    def job() -> Verdict:
        name = f"_mlbugs_test_alone_{variant.digest}_{number}"
        verdict = judge_variant(
            component,
            source,
            module_name=name,
            filename=f"<{name}>",
            seed=SEED,
            layers=[REGISTRY.mutators[bug.bug_id].layer.value],
        )
        (prop,) = [p for p in component.suite.properties if p.name == pointer]
        whole = load_source(variant.source, name=f"{name}_whole", filename=f"<{name} whole>")
        found = find_counterexample(prop, whole, seed=derive_seed(SEED, prop.qualified_name))
        assert found is not None
        alone = load_source(source, name=f"{name}_pointer", filename=f"<{name} pointer>")
        try:
            prop.run_once(alone, found.case)
        except Exception:
            verdict.detail = "fails"
        return verdict

    verdict = run_isolated(job, timeout=120, isolation="fork")
    return verdict.status, verdict.detail == "fails"


@pytest.mark.parametrize(
    "variant", several_bug_variants(11, count=40)[:12], ids=lambda v: f"{v.component}-{v.label}"
)
def test_each_bug_judged_alone_agrees_with_judging_it_as_a_variant_of_its_own(variant):
    verdict = judge(variant, solos=True)
    assert verdict.status == Status.DETECTED, verdict.detail
    assert verdict.status == judge(variant, solos=False).status
    pointer = verdict.failures[0].property
    assert len(verdict.bugs) == len(variant.bugs)
    for number, alone in enumerate(verdict.bugs):
        status, replay_fails = judge_alone_by_hand(variant, number, pointer)
        assert alone.alone == status
        assert alone.pointed_to == replay_fails
        assert (alone.caught_by is not None) == (status == Status.DETECTED)
        if alone.pointed_to:
            assert alone.caught_by == pointer


def test_a_variant_of_one_bug_carries_no_verdicts_on_bugs_alone():
    (variant,) = [
        v
        for v in all_single_bug_variants(REGISTRY, ["masks"])
        if v.label == "causal_mask_off_by_one" and v.bugs[0].site == 0
    ]
    verdict = judge(variant, solos=True)
    assert verdict.status == Status.DETECTED
    assert verdict.bugs == []


def test_a_bug_the_suite_misses_alone_is_reported_though_the_variant_is_detected():
    # An equivalent rewrite beside a real bug: the variant is detected, the real bug is what the
    # failing property points to, and the rewrite is reported as not caught on its own.
    masks = REGISTRY.components["masks"]
    (real,) = [
        v
        for v in all_single_bug_variants(REGISTRY, ["masks"])
        if v.label == "causal_mask_off_by_one" and v.bugs[0].site == 0
    ]
    harmless = masks.reference_source.replace(
        "def create_padding_mask(", "def create_padding_mask(  # x\n", 1
    )
    assert harmless != masks.reference_source
    both = real.source.replace("def create_padding_mask(", "def create_padding_mask(  # x\n", 1)
    bugs = (real.bugs[0], real.bugs[0])  # the bugs' identity does not matter to the verdict
    variant = Variant(
        "masks", bugs, both, masks.reference_source, masks.reference_path, (real.source, harmless)
    )
    verdict = judge(variant, solos=True)
    assert verdict.status == Status.DETECTED
    first, second = verdict.bugs
    assert (
        first.alone == Status.DETECTED
        and first.pointed_to
        and first.caught_by == verdict.failures[0].property
    )
    assert second.alone == Status.SURVIVED and not second.pointed_to and second.caught_by is None


def test_the_summary_counts_the_bugs_names_twenty_missed_ones_and_the_variants_no_bug_explains():
    results = Results()

    def add(ordinal: int, bugs: list[dict[str, object]]) -> None:
        results.add(
            {"kind": "variant", "ordinal": ordinal, "id": f"v{ordinal}", "component": "masks"}
            | {"status": Status.DETECTED, "bugs": bugs}
        )

    caught = {"id": "real", "line": 1, "alone": Status.DETECTED, "caught_by": "p", "pointed_to": True}
    missed = {"id": "hidden", "line": 2, "alone": Status.SURVIVED, "caught_by": None, "pointed_to": False}
    for ordinal in range(25):
        add(ordinal, [caught, missed])
    add(25, [caught | {"pointed_to": False}, caught | {"id": "other", "pointed_to": False}])
    add(26, [{"id": "single", "line": 3}])
    lines = several_bugs_lines(results)
    assert lines[:2] == [
        "variants of several bugs: 26, with 52 bugs: 27 caught on their own; "
        "the case that failed on the whole variant fails again on 25 of them alone",
        "  1 detected variant(s) whose failing case fails on none of their bugs alone: "
        "the bugs only show together",
    ]
    named = [line for line in lines if "hidden at line 2 not caught on its own" in line]
    assert len(named) == 20
    assert lines[-1] == "  ... and 5 more (every bug is in --mlbugs-report's JSON)"
    assert several_bugs_lines(Results()) == []
