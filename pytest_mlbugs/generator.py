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

A session never holds two variants with the same source. A draw that finds only variants the
session already has leaves its place to a fresh variant (:mod:`pytest_mlbugs.fresh`), from a
walk over every variant of the selection, fewest bugs first: single bugs the draws missed, then
2 bugs, 3 bugs, ... (more than ``max_bugs`` only once every variant of at most ``max_bugs`` bugs
is in the session). When even those run out, the places left are dropped: the plan is shorter
than ``count``, and :class:`PlanNotes` says so. A plan in which no draw repeated is exactly the
plan the draws alone give.

A broken mutator (it raises, overruns its time limit, or never yields a variant that compiles)
is left out and reported in ``broken`` (bug ID -> reason) instead of ending the session; the
other mutators' sites, picks and variants are exactly those they get without it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Collection, Iterator, Sequence
from functools import cached_property

import libcst as cst

from pytest_mlbugs.fresh import fill_repeats
from pytest_mlbugs.mutation import (
    MutatorError,
    Site,
    apply_sites,
    changed_span,
    find_sites_isolating,
    parse,
    unified_diff,
)
from pytest_mlbugs.registry import BUILTIN_ORIGIN, Component, Registry
from pytest_mlbugs.seeds import Pick


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


@dataclasses.dataclass
class PlanNotes:
    """What a plan gave where it could not give what was asked, for the session to say."""

    #: the variants asked for (``count``, or one per selected mutator)
    requested: int = 0
    #: the plan's ``max_bugs``
    max_bugs: int = 1
    #: the variants planned
    planned: int = 0
    #: planned variants of more than ``max_bugs`` bugs: the selection has no other variant left
    beyond_max_bugs: int = 0
    #: the distinct variants of at most ``max_bugs`` bugs, all planned, when some go beyond
    within_max_bugs: int = 0
    #: the most bugs of a planned variant
    most_bugs: int = 0
    #: the plan holds every variant of the selection and is shorter than asked
    exhausted: bool = False


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

    def site_sets(self, component: str, bug_ids: Collection[str], most: int) -> Iterator[tuple[Site, ...]]:
        """Every set of at most ``most`` sites of ``bug_ids`` in ``component`` that a variant can
        carry: one site per mutator, none overlapping another; depth first, so a set comes
        before the larger sets that extend it."""
        here = self.sites[component]
        sites = [site for bug_id in sorted(bug_ids) for site in here.get(bug_id, [])]

        def extend(start: int, chosen: tuple[Site, ...]) -> Iterator[tuple[Site, ...]]:
            for number in range(start, len(sites)):
                site = sites[number]
                if any(site.bug_id == c.bug_id or site.overlaps(c) for c in chosen):
                    continue
                grown = (*chosen, site)
                yield grown
                if len(grown) < most:
                    yield from extend(number + 1, grown)

        return extend(0, ())

    def count_sets(self, bug_ids: Collection[str], most: int, cap: int) -> int:
        """How many sets :meth:`site_sets` gives over every component, counting no further than
        ``cap``: a bound on the distinct variants of at most ``most`` bugs."""
        found = 0
        for component in self.sites:
            for _ in self.site_sets(component, bug_ids, most):
                found += 1
                if found >= cap:
                    return cap
        return found


class VariantBuilds:
    """Variants by the sites they carry, each written once: a draw that lands on sites drawn
    before costs a look-up, and a bug alone is written once for every variant that carries it."""

    def __init__(self, registry: Registry, index: SiteIndex) -> None:
        self.registry = registry
        self.index = index
        self._variants: dict[tuple[str, frozenset[tuple[str, int]]], Variant | None] = {}
        self._alone: dict[tuple[str, tuple[str, int]], str | None] = {}
        self._starts: dict[str, list[int]] = {}

    def variant(self, component: Component, chosen: Sequence[Site]) -> Variant | None:
        """The variant with the bugs at ``chosen``, or ``None`` where its rewrite does not
        compile or its bugs do not compose."""
        key = (component.name, frozenset(site.key for site in chosen))
        if key not in self._variants:
            self._variants[key] = self._build(component, chosen)
        return self._variants[key]

    def _build(self, component: Component, chosen: Sequence[Site]) -> Variant | None:
        ordered = sorted(chosen, key=lambda s: (s.start_line, s.start_column, s.bug_id))
        source = self._write(component.name, chosen)
        solos = tuple(self._write(component.name, [site]) for site in ordered) if len(ordered) > 1 else ()
        if source is None or None in solos:
            return None
        return Variant(
            component.name,
            tuple(Bug.at(s) for s in ordered),
            source,
            component.reference_source,
            component.reference_path,
            tuple(solo for solo in solos if solo is not None),
        )

    def _write(self, component: str, chosen: Sequence[Site]) -> str | None:
        if len(chosen) > 1:
            return self._combined(component, chosen)
        key = (component, chosen[0].key)
        if key not in self._alone:
            module = self.index.modules[component]
            try:
                self._alone[key] = apply_sites(
                    module, {chosen[0].bug_id: self.registry.mutators[chosen[0].bug_id]}, [chosen[0].key]
                )
            except MutatorError:
                self._alone[key] = None
        return self._alone[key]

    def _combined(self, component: str, chosen: Sequence[Site]) -> str | None:
        """Several bugs in one source: each bug's own rewrite spliced into the reference, where
        the stretches they rewrite do not meet; else :func:`apply_sites`.

        A bug's stretch covers its site and all it changes; libcst writes a node the same
        whatever its neighbours became, so where the stretches of bugs at sites that do not
        overlap are apart too, the splice is the text :func:`apply_sites` writes. It saves writing
        the whole module out again for each variant: most of a large plan's time before.
        """
        reference = self.registry.components[component].reference_source
        pieces = []
        for site in chosen:
            piece = self._stretch(component, site)
            if piece is None:
                return None  # written together, such a bug does not compile either
            pieces.append(piece)
        pieces.sort()
        if any(
            earlier[1] > later[0] or earlier[0] == later[0] for earlier, later in itertools.pairwise(pieces)
        ):
            return self._written_together(component, chosen)
        parts: list[str] = []
        done = 0
        for start, end, text in pieces:
            parts.extend((reference[done:start], text))
            done = end
        source = "".join(parts) + reference[done:]
        try:
            compile(source, "<mlbugs variant>", "exec")
        except (SyntaxError, ValueError):
            return None
        return source

    def _stretch(self, component: str, site: Site) -> tuple[int, int, str] | None:
        """``(start, end, text)``: the bug at ``site`` alone is the reference with ``text`` in
        place of ``reference[start:end]``, a stretch that holds the site and every change."""
        alone = self._write(component, [site])
        if alone is None:
            return None
        reference = self.registry.components[component].reference_source
        starts = self._line_starts(component)
        changed, changed_end, _ = changed_span(reference, alone)
        start = min(changed, starts[site.start_line - 1] + site.start_column)
        end = max(changed_end, starts[site.end_line - 1] + site.end_column)
        return start, end, alone[start : len(alone) - (len(reference) - end)]

    def _written_together(self, component: str, chosen: Sequence[Site]) -> str | None:
        mutators = {s.bug_id: self.registry.mutators[s.bug_id] for s in chosen}
        try:
            return apply_sites(self.index.modules[component], mutators, [s.key for s in chosen])
        except MutatorError:
            return None

    def _line_starts(self, component: str) -> list[int]:
        """The offset in the reference at which each line starts (sites count lines from 1)."""
        if component not in self._starts:
            lines = self.registry.components[component].reference_source.split("\n")
            self._starts[component] = [0, *itertools.accumulate(len(line) + 1 for line in lines)]
        return self._starts[component]


def plan_session(
    registry: Registry,
    *,
    seed: int,
    components: Sequence[str],
    mutators: Sequence[str],
    count: int | None = None,
    max_bugs: int = 1,
    broken: dict[str, str] | None = None,
    notes: PlanNotes | None = None,
) -> list[Variant]:
    """The variants of one session, in a stable order, no two with the same source.

    Selected mutators found broken are left out and, when ``broken`` is given, added to it
    (bug ID -> reason) for the caller to report. ``notes``, when given, is filled in with what
    the plan could not give as asked (see :class:`PlanNotes`).
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
    order = Pick(seed, "mutator-order").shuffled(eligible)
    total = len(order) if count is None else count
    builds = VariantBuilds(registry, index)
    # (mutator, variant) per place in the session; None where the draw found only variants
    # the session holds already: a fresh variant takes that place below
    drawn: list[tuple[str, Variant | None]] = []
    seen: set[str] = set()
    bound: int | None = None  # distinct variants the draws can give at most, once one repeats
    for ordinal in range(total):
        bug_id = order[ordinal % len(order)]
        round_ = ordinal // len(order)
        if bug_id in found_broken:
            continue
        if bound is not None and len(seen) >= bound:
            drawn.append((bug_id, None))  # every variant a draw can give is in the session
            continue
        try:
            variant = _make_variant(
                registry,
                index,
                builds,
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
        if variant.digest in seen:
            drawn.append((bug_id, None))
            if bound is None:
                usable = [b for b in eligible if b not in found_broken]
                bound = index.count_sets(usable, max_bugs, cap=total)
        else:
            drawn.append((bug_id, variant))
            seen.add(variant.digest)
    variants = fill_repeats(registry, index, builds, drawn, seed=seed, order=order, broken=found_broken)
    if notes is not None:
        beyond = sum(len(v.bugs) > max_bugs for v in variants)
        notes.requested, notes.max_bugs, notes.planned = total, max_bugs, len(variants)
        notes.beyond_max_bugs, notes.within_max_bugs = beyond, len(variants) - beyond
        notes.most_bugs = max((len(v.bugs) for v in variants), default=0)
        notes.exhausted = len(variants) < len(drawn)
    return variants


def _make_variant(
    registry: Registry,
    index: SiteIndex,
    builds: VariantBuilds,
    *,
    seed: int,
    bug_id: str,
    round_: int,
    max_bugs: int,
    allowed: set[str],
    seen: set[str],
) -> Variant:
    pick = Pick(seed, "variant", bug_id, round_)
    homes = index.components_of(bug_id)
    component_name = homes[pick.below(len(homes))]
    component = registry.components[component_name]
    sites_here = index.sites[component_name]
    wanted = 1 + pick.below(max_bugs)
    # A few attempts find a variant not yet in the session; after that the draw repeats, and
    # plan_session gives its place to a fresh variant.
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
        variant = builds.variant(component, chosen)
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


def _choose(pick: Pick, sites: Sequence[Site]) -> Site:
    return sites[pick.below(len(sites))]


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
