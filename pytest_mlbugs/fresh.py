"""Fresh variants: every variant of a selection, fewest bugs first, for the places in a session
where the seed's draws found only variants the session holds already (see
:func:`pytest_mlbugs.generator.plan_session`).

The walk is exact, so a session that asks for more variants than the selection has holds every
one of them, and can say how many there are. It is also cheap: the sets of sites are enumerated
level by level, a level only once the one below is used up, and each variant is built once.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from pytest_mlbugs.seeds import derive_seed

if TYPE_CHECKING:  # the generator imports this module; these names are only annotations here
    from pytest_mlbugs.generator import SiteIndex, Variant, VariantBuilds
    from pytest_mlbugs.mutation import Site
    from pytest_mlbugs.registry import Registry


class FreshVariants:
    """Every variant of the selection the session does not hold yet, fewest bugs first.

    A variant is a set of sites in one component (:meth:`SiteIndex.site_sets`: one per mutator,
    none overlapping another). Level n holds the sets of n sites, and opens only when no mutator
    has a fresh set left at level n - 1: the session holds every variant of n - 1 bugs before one
    of n. Asked for a mutator, a level gives a set that carries one of its sites, in an order the
    seed fixes, sets of bugs from distinct families first (as draws of several bugs prefer them);
    where the mutator has none left, the next mutator in the session's order gives one.
    """

    def __init__(
        self,
        registry: Registry,
        index: SiteIndex,
        builds: VariantBuilds,
        *,
        seed: int,
        order: Sequence[str],
        seen: set[str],
    ) -> None:
        self.registry = registry
        self.index = index
        self.builds = builds
        self.seed = seed
        self.order = list(order)
        self.seen = seen
        self.level = 0
        self.queues: dict[str, collections.deque[tuple[str, tuple[Site, ...]]]] = {}
        self.tried: set[tuple[str, frozenset[tuple[str, int]]]] = set()

    def take(self, bug_id: str) -> Variant | None:
        """A variant the session does not hold, carrying ``bug_id`` where one is left at the
        current level; ``None`` when the selection has no variant left at all."""
        start = self.order.index(bug_id)
        while True:
            for bug in (*self.order[start:], *self.order[:start]):
                variant = self._take_from(bug)
                if variant is not None:
                    return variant
            if not self._open_next_level():
                return None

    def _take_from(self, bug_id: str) -> Variant | None:
        queue = self.queues.get(bug_id)
        while queue:
            component, sites = queue.popleft()
            key = (component, frozenset(site.key for site in sites))
            if key in self.tried:
                continue  # given already for another of its bugs
            self.tried.add(key)
            variant = self.builds.variant(self.registry.components[component], sites)
            if variant is not None and variant.digest not in self.seen:
                self.seen.add(variant.digest)
                return variant
        return None

    def _open_next_level(self) -> bool:
        """The sets of one more site, queued under each of their mutators; ``False`` when no
        set is that large (nor, then, any larger one)."""
        self.level += 1
        ranked: dict[str, list[tuple[tuple[int, int], str, tuple[Site, ...]]]] = collections.defaultdict(list)
        for component in self.index.sites:
            usable = [b for b in self.order if self.index.compile_problem(b, component) is None]
            for sites in self.index.site_sets(component, usable, self.level):
                if len(sites) != self.level:
                    continue
                families = [self.registry.mutators[site.bug_id].category for site in sites]
                rank = derive_seed(self.seed, "fresh", component, *sorted(site.key for site in sites))
                for site in sites:
                    ranked[site.bug_id].append(((len(families) - len(set(families)), rank), component, sites))
        self.queues = {
            bug_id: collections.deque((c, s) for _, c, s in sorted(entries, key=lambda entry: entry[0]))
            for bug_id, entries in ranked.items()
        }
        return bool(ranked)


def fill_repeats(
    registry: Registry,
    index: SiteIndex,
    builds: VariantBuilds,
    drawn: list[tuple[str, Variant | None]],
    *,
    seed: int,
    order: Sequence[str],
    broken: Mapping[str, str],
) -> list[Variant]:
    """The drawn variants (``(mutator, variant)`` per place, ``None`` where the draw repeated)
    with a fresh variant in each place a draw repeated, as long as the selection has one left;
    the places after that hold only what the draws gave."""
    variants: list[Variant] = []
    fresh: FreshVariants | None = None
    seen = {variant.digest for _, variant in drawn if variant is not None}
    for place, (bug_id, variant) in enumerate(drawn):
        if variant is None:
            if fresh is None:
                working = [b for b in order if b not in broken]
                fresh = FreshVariants(registry, index, builds, seed=seed, order=working, seen=seen)
            variant = fresh.take(bug_id)
            if variant is None:  # the session holds every variant of the selection
                return variants + [v for _, v in drawn[place + 1 :] if v is not None]
        variants.append(variant)
    return variants
