"""Seeded generation of buggy variants.

Every choice is a pure function of the seed and a label (:func:`derive_seed`, SHA-256), never
of ``random``'s global state, ``hash()`` or iteration order of a set: the same seed gives
byte-identical variants in every process, on every machine and every xdist worker.

The default session applies every selected mutator once, at a site the seed picks, in an order
the seed shuffles; ``count`` beyond that goes round again with fresh picks. With
``max_bugs=K`` each variant carries between 1 and K bugs (the seed decides) at sites that do
not overlap, the extra bugs drawn from other mutators of the same component: first from bug
families (categories) the variant does not have yet, then, when the component has too few
families, from the others. A variant of several bugs also carries each bug written alone, so
that the verdict can say which of them the suite would catch on its own.

A broken mutator (it raises, overruns its time limit, or never yields a variant that compiles)
is left out and reported in ``broken`` (bug ID -> reason) instead of ending the session; the
other mutators' sites, picks and variants are exactly those they get without it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from functools import cached_property

import libcst as cst

from pytest_mlbugs.mutation import (
    MutatorError,
    Site,
    apply_sites,
    find_sites_isolating,
    parse,
    unified_diff,
)
from pytest_mlbugs.registry import BUILTIN_ORIGIN, Component, Registry
from pytest_mlbugs.seeds import derive_seed


@dataclasses.dataclass(frozen=True)
class Bug:
    bug_id: str
    site: int
    line: int
    column: int
    end_line: int
    end_column: int
    #: the bug written at this site (the mutator's description, or a more precise one for the
    #: site's context); empty for a bug rebuilt from a report that predates it
    description: str = ""

    @classmethod
    def at(cls, site: Site) -> Bug:
        return cls(
            site.bug_id,
            site.index,
            site.start_line,
            site.start_column,
            site.end_line,
            site.end_column,
            site.description,
        )

    def to_json(self) -> dict[str, object]:
        return dataclasses.asdict(self) | {"id": self.bug_id}


@dataclasses.dataclass(frozen=True)
class Variant:
    component: str
    bugs: tuple[Bug, ...]
    source: str
    reference_source: str
    reference_path: str
    #: with several bugs, the reference with each one alone (in the order of ``bugs``)
    solo_sources: tuple[str, ...] = ()

    @cached_property
    def digest(self) -> str:
        """Content hash: the same variant has the same ID everywhere."""
        text = f"{self.component}\n{self.source}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        return "+".join(bug.bug_id for bug in self.bugs)

    @property
    def module_name(self) -> str:
        return f"_mlbugs_variant_{self.component}_{self.digest}"

    @property
    def filename(self) -> str:
        return f"<mlbugs variant {self.component} {self.digest}>"

    @cached_property
    def diff(self) -> str:
        return unified_diff(
            self.reference_source,
            self.source,
            fromfile=self.reference_path,
            tofile=f"variant {self.digest} ({self.label})",
        )


class PlanError(Exception):
    """The selection leaves nothing to generate; the message says what to change."""


class _Pick:
    """Deterministic choices under one label."""

    def __init__(self, *label: object) -> None:
        self.label = label
        self.draws = 0

    def below(self, n: int) -> int:
        self.draws += 1
        return derive_seed(*self.label, self.draws) % n

    def shuffled(self, items: Sequence[str]) -> list[str]:
        return sorted(items, key=lambda item: derive_seed(*self.label, "order", item))


class SiteIndex:
    """Sites of every mutator in every component's reference, found once per session.

    ``broken`` names each mutator that failed on a reference (bug ID -> reason); it has no
    sites anywhere, so that nothing generates from it.
    """

    def __init__(self, registry: Registry, components: Sequence[str]) -> None:
        self.registry = registry
        self.modules: dict[str, cst.Module] = {}
        self.sites: dict[str, dict[str, list[Site]]] = {}
        self.broken: dict[str, str] = {}
        for name in components:
            component = registry.components[name]
            module = parse(component.reference_source)
            self.modules[name] = module
            mutators = registry.mutators_for(name)
            sites, broken = find_sites_isolating(module, mutators)
            self.sites[name] = {k: v for k, v in sites.items() if v}
            for bug_id, reason in broken.items():
                self.broken.setdefault(bug_id, f"{reason} (in {component.reference_path})")
        for sites_here in self.sites.values():
            for bug_id in self.broken:
                sites_here.pop(bug_id, None)
        self._compile_problems: dict[tuple[str, str], str | None] = {}

    def compile_problem(self, bug_id: str, component: str) -> str | None:
        """Why no site of ``bug_id`` in ``component`` gives code that compiles, or ``None``.

        Ours are known to compile at every site (the kill matrix writes them all), so only
        mutators from elsewhere are tried, once each, before they join another's variant.
        """
        mutator = self.registry.mutators[bug_id]
        if mutator.origin == BUILTIN_ORIGIN:
            return None
        key = (bug_id, component)
        if key not in self._compile_problems:
            problem: str | None = "has no site"
            for site in self.sites[component].get(bug_id, []):
                try:
                    apply_sites(self.modules[component], {bug_id: mutator}, [site.key])
                except MutatorError as exc:
                    problem = f"{exc.reason} (site {site.index}, line {site.start_line})"
                    continue
                problem = None
                break
            self._compile_problems[key] = problem
        return self._compile_problems[key]

    def components_of(self, bug_id: str) -> list[str]:
        return [name for name, sites in self.sites.items() if sites.get(bug_id)]


def plan_session(
    registry: Registry,
    *,
    seed: int,
    components: Sequence[str],
    mutators: Sequence[str],
    count: int | None = None,
    max_bugs: int = 1,
    broken: dict[str, str] | None = None,
) -> list[Variant]:
    """The variants of one session, in a stable order.

    Selected mutators found broken are left out and, when ``broken`` is given, added to it
    (bug ID -> reason) for the caller to report.
    """
    index = SiteIndex(registry, components)
    found_broken = {bug_id: index.broken[bug_id] for bug_id in mutators if bug_id in index.broken}
    if broken is not None:
        broken.update(found_broken)
    eligible = [bug_id for bug_id in mutators if index.components_of(bug_id)]
    if not eligible:
        reasons = "".join(f"; mutator {bug_id} {reason}" for bug_id, reason in found_broken.items())
        raise PlanError(
            "no selected mutator finds a site in the selected components; "
            f"see --mlbugs-list for which mutator applies to which component{reasons}"
        )
    order = _Pick(seed, "mutator-order").shuffled(eligible)
    total = len(order) if count is None else count
    variants: list[Variant] = []
    seen: set[str] = set()
    for ordinal in range(total):
        bug_id = order[ordinal % len(order)]
        round_ = ordinal // len(order)
        if bug_id in found_broken:
            continue
        try:
            variant = _make_variant(
                registry,
                index,
                seed=seed,
                bug_id=bug_id,
                round_=round_,
                max_bugs=max_bugs,
                allowed=set(mutators),
                seen=seen,
            )
        except MutatorError as exc:
            found_broken[bug_id] = exc.reason
            if broken is not None:
                broken[bug_id] = exc.reason
            continue
        variants.append(variant)
        seen.add(variant.digest)
    return variants


def _make_variant(
    registry: Registry,
    index: SiteIndex,
    *,
    seed: int,
    bug_id: str,
    round_: int,
    max_bugs: int,
    allowed: set[str],
    seen: set[str],
) -> Variant:
    pick = _Pick(seed, "variant", bug_id, round_)
    homes = index.components_of(bug_id)
    component_name = homes[pick.below(len(homes))]
    component = registry.components[component_name]
    sites_here = index.sites[component_name]
    wanted = 1 + pick.below(max_bugs)
    # A few attempts find a variant not yet in the session; after that a repeat is honest too.
    last: Variant | None = None
    for _attempt in range(8):
        first = _choose(pick, sites_here[bug_id])
        chosen = [first]
        others = pick.shuffled([b for b in sites_here if b != bug_id and b in allowed])
        families = {registry.mutators[bug_id].category}
        # Bugs of families the variant lacks first: a data bug beside a numerics bug is the
        # realistic mix, and the harder one for a suite to tell apart.
        for new_family_only in (True, False):
            for other in others:
                if len(chosen) == wanted:
                    break
                category = registry.mutators[other].category
                if any(c.bug_id == other for c in chosen) or (new_family_only and category in families):
                    continue
                if index.compile_problem(other, component_name) is not None:
                    continue  # a broken mutator must not spoil this one's variants
                candidates = [s for s in sites_here[other] if not any(s.overlaps(c) for c in chosen)]
                if candidates:
                    chosen.append(_choose(pick, candidates))
                    families.add(category)
        variant = _build(registry, index, component, chosen)
        if variant is None:
            continue
        last = variant
        if variant.digest not in seen:
            return variant
    if last is None:
        problem = index.compile_problem(bug_id, component_name)
        detail = f": {problem}" if problem else " (its bugs do not compose with the others drawn)"
        raise MutatorError(bug_id, f"produced no usable variant of {component_name}{detail}")
    return last


def _choose(pick: _Pick, sites: Sequence[Site]) -> Site:
    return sites[pick.below(len(sites))]


def _build(registry: Registry, index: SiteIndex, component: Component, chosen: list[Site]) -> Variant | None:
    module = index.modules[component.name]
    ordered = sorted(chosen, key=lambda s: (s.start_line, s.start_column, s.bug_id))
    try:
        source = apply_sites(
            module, {s.bug_id: registry.mutators[s.bug_id] for s in chosen}, [s.key for s in chosen]
        )
        solos = (
            tuple(apply_sites(module, {s.bug_id: registry.mutators[s.bug_id]}, [s.key]) for s in ordered)
            if len(ordered) > 1
            else ()
        )
    except MutatorError:
        return None  # a site whose rewrite does not compile, or bugs that do not compose
    return Variant(
        component.name,
        tuple(Bug.at(s) for s in ordered),
        source,
        component.reference_source,
        component.reference_path,
        solos,
    )


def all_single_bug_variants(registry: Registry, components: Sequence[str]) -> list[Variant]:
    """Every mutator at every site of every reference: the kill matrix."""
    index = SiteIndex(registry, components)
    variants = []
    for name in components:
        component = registry.components[name]
        for bug_id in sorted(index.sites[name]):
            for site in index.sites[name][bug_id]:
                source = apply_sites(index.modules[name], {bug_id: registry.mutators[bug_id]}, [site.key])
                bug = Bug.at(site)
                variants.append(
                    Variant(name, (bug,), source, component.reference_source, component.reference_path)
                )
    return variants
