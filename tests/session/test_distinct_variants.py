"""A session never holds two identical variants. Where the seed's draws repeat, fresh variants
take their places, fewest bugs first (more than ``--mlbugs-max-bugs`` only once every variant of
at most that many bugs is in); a selection with fewer variants than asked for gives each once,
and the session says so in one line."""

from __future__ import annotations

import collections
import itertools
import json
import time
from pathlib import Path

import pytest

from pytest_mlbugs.generator import (
    PlanNotes,
    SiteIndex,
    Variant,
    VariantBuilds,
    all_single_bug_variants,
    plan_session,
)
from pytest_mlbugs.mutation import apply_sites
from pytest_mlbugs.registry import builtin_registry
from pytest_mlbugs.session.report import plan_lines

REGISTRY = builtin_registry()
MUTATORS = sorted(REGISTRY.mutators)
ALL = sorted(REGISTRY.components)


def every_variant(components: list[str]) -> collections.Counter[int]:
    """How many variants the selection can carry, by their number of bugs, counted by brute force
    (every combination of sites, kept where the mutators differ and no two sites overlap)."""
    index = SiteIndex(REGISTRY, components)
    sizes: collections.Counter[int] = collections.Counter()
    for name in components:
        sites = [site for found in index.sites[name].values() for site in found]
        for size in range(1, len(index.sites[name]) + 1):
            for chosen in itertools.combinations(sites, size):
                if len({s.bug_id for s in chosen}) == size and not any(
                    a.overlaps(b) for a, b in itertools.combinations(chosen, 2)
                ):
                    sizes[size] += 1
    return sizes


def plan(
    components: list[str], count: int, *, seed: int = 1, max_bugs: int = 1
) -> tuple[list[Variant], PlanNotes]:
    notes = PlanNotes()
    variants = plan_session(
        REGISTRY,
        seed=seed,
        components=components,
        mutators=MUTATORS,
        count=count,
        max_bugs=max_bugs,
        notes=notes,
    )
    return variants, notes


def sizes(variants: list[Variant]) -> collections.Counter[int]:
    return collections.Counter(len(v.bugs) for v in variants)


def assert_distinct(variants: list[Variant]) -> None:
    assert len({(v.component, v.source) for v in variants}) == len(variants)
    assert len({v.digest for v in variants}) == len(variants)


def test_draws_that_repeat_give_their_places_to_single_bug_variants_they_missed():
    # Seed 3 draws 120 single-bug variants with 18 repeats; the catalogue has more than 120.
    singles = {v.source for v in all_single_bug_variants(REGISTRY, ALL)}
    assert len(singles) > 120
    variants, notes = plan(ALL, 120, seed=3)
    assert_distinct(variants)
    assert len(variants) == 120 and sizes(variants) == {1: 120}
    assert {v.source for v in variants} <= singles
    assert (notes.beyond_max_bugs, notes.exhausted) == (0, False)
    assert plan_lines(notes) == []


def test_past_the_single_bug_variants_the_session_draws_variants_of_two_bugs_and_says_why():
    singles = len({v.source for v in all_single_bug_variants(REGISTRY, ALL)})
    variants, notes = plan(ALL, singles + 40, seed=7)
    assert_distinct(variants)
    assert sizes(variants) == {1: singles, 2: 40}  # every single-bug variant before any pair
    assert plan_lines(notes) == [
        f"40 of {singles + 40} variants carry 2 bugs: the selection has only {singles} distinct "
        "single-bug variants (--mlbugs-max-bugs=1)"
    ]
    index = SiteIndex(REGISTRY, ALL)
    for variant in variants:  # bugs of distinct mutators at sites that do not overlap, as drawn ones
        sites = [index.sites[variant.component][b.bug_id][b.site] for b in variant.bugs]
        assert len({s.bug_id for s in sites}) == len(sites)
        assert not any(a.overlaps(b) for a, b in itertools.combinations(sites, 2))


@pytest.mark.parametrize("components", [["masks"], ["evaluation"], ["data", "training"]])
def test_a_count_beyond_the_selection_gives_every_variant_once_and_stops(components):
    expected = every_variant(components)
    total = sum(expected.values())
    variants, notes = plan(components, total + 25)
    assert_distinct(variants)
    assert sizes(variants) == expected
    assert (notes.planned, notes.requested, notes.exhausted) == (total, total + 25, True)
    assert (notes.within_max_bugs, notes.most_bugs) == (expected[1], max(expected))
    assert plan_lines(notes)[-1] == (
        f"the selection has only {total} distinct variants (of up to {max(expected)} bugs): "
        f"the session holds every one of them, not the {total + 25} asked for"
    )


def test_max_bugs_is_exceeded_only_once_every_variant_within_it_is_in_the_session():
    expected = every_variant(["masks"])
    within = expected[1] + expected[2]
    variants, notes = plan(["masks"], within + 3, max_bugs=2, seed=5)
    assert_distinct(variants)
    assert sizes(variants) == {1: expected[1], 2: expected[2], 3: 3}
    assert (notes.beyond_max_bugs, notes.within_max_bugs) == (3, within)
    assert plan_lines(notes) == [
        f"3 of {within + 3} variants carry 3 bugs: the selection has only {within} distinct variants "
        "of at most 2 bugs (--mlbugs-max-bugs=2)"
    ]


def test_a_huge_count_on_a_small_selection_stops_as_soon_as_every_variant_is_in():
    # a bound on what the draws can give ends them; a million draws would take minutes
    started = time.perf_counter()
    variants, notes = plan(["evaluation"], 1_000_000)
    assert time.perf_counter() - started < 60
    assert len(variants) == sum(every_variant(["evaluation"]).values()) and notes.exhausted


def test_several_bugs_spliced_from_each_bug_alone_are_the_text_libcst_writes_for_them_together():
    # kv_cache: one of its mutators removes a statement with the comment above it, beyond its site
    index = SiteIndex(REGISTRY, ["kv_cache", "masks"])
    builds = VariantBuilds(REGISTRY, index)
    compared = 0
    for name in ("kv_cache", "masks"):
        component = REGISTRY.components[name]
        for sites in index.site_sets(name, list(index.sites[name]), 3):
            if len(sites) < 2:
                continue
            variant = builds.variant(component, sites)
            assert variant is not None
            together = apply_sites(
                index.modules[name],
                {s.bug_id: REGISTRY.mutators[s.bug_id] for s in sites},
                [s.key for s in sites],
            )
            assert variant.source == together, [s.key for s in sites]
            compared += 1
    assert compared > 300


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:benchmark", *args)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_session_asking_for_more_than_the_selection_has_runs_each_variant_once_and_says_so(
    pytester, workers
):
    expected = every_variant(["evaluation"])
    total = sum(expected.values())
    result = run(
        pytester,
        *workers,
        "--mlbugs-seed=1",
        "--mlbugs-components=evaluation",
        "--mlbugs-count=30",
        "--mlbugs-report=report.json",
    )
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=total + 1)
    bugs = "2 bugs" if max(expected) == 2 else f"2 to {max(expected)} bugs"
    result.stdout.fnmatch_lines(
        [
            f"{total - expected[1]} of {total} variants carry {bugs}: the selection has "
            f"only {expected[1]} distinct single-bug variants (--mlbugs-max-bugs=1)",
            f"the selection has only {total} distinct variants (of up to {max(expected)} bugs): "
            "the session holds every one of them, not the 30 asked for",
        ]
    )
    report = json.loads(Path(pytester.path, "report.json").read_text())
    ids = [variant["id"] for variant in report["mlbugs"]["variants"]]
    assert len(ids) == len(set(ids)) == total
    assert [variant["ordinal"] for variant in report["mlbugs"]["variants"]] == list(range(total))
