"""Finding every site of every mutator in a module, and writing bugs at chosen sites."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import difflib
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from pytest_mlbugs.mutation.context import Cursor, cursor_over
from pytest_mlbugs.mutation.model import (
    Mutator,
    MutatorError,
    Replacement,
    Rewrite,
    Site,
)

#: seconds one mutator may spend in one pass over one module, finding or writing its sites
#: (ours need milliseconds); past it the mutator is reported as broken, never waited for
MUTATOR_TIME_LIMIT = 10.0

_NODE_TYPES = (cst.CSTNode, cst.RemovalSentinel, cst.FlattenSentinel)


class _OutOfTime(BaseException):
    """Raised by the timer inside a mutator; a ``BaseException``, so ``except Exception`` in the
    mutator cannot swallow it."""


class _Budget:
    """The time each mutator has spent in one pass, and the timer that stops an overrun.

    The timer is a ``SIGALRM`` interval timer, armed only around a mutator's own code and only
    in the main thread when no other timer is armed (the runner's in-process verdict timer, for
    one); elsewhere the time is still counted, and a mutator that finishes late is reported.
    """

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.spent: dict[str, float] = {}
        self.armed = False

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        can_arm = (
            hasattr(signal, "setitimer")
            and threading.current_thread() is threading.main_thread()
            and signal.getitimer(signal.ITIMER_REAL)[0] == 0
        )
        if not can_arm:
            yield
            return

        def expire(signum: int, frame: Any) -> None:
            raise _OutOfTime()

        previous = signal.signal(signal.SIGALRM, expire)
        self.armed = True
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.armed = False
            signal.signal(signal.SIGALRM, previous)

    def offer(self, mutator: Mutator, node: cst.CSTNode) -> list[tuple[Replacement, str]]:
        """The mutator's replacements of ``node``, each with the description of the bug it
        writes (its :class:`Rewrite`'s, or the mutator's own)."""
        if not isinstance(node, mutator.node_types):
            return []
        bug_id = mutator.bug_id
        spent = self.spent.get(bug_id, 0.0)
        started = time.perf_counter()
        try:
            if self.armed:
                signal.setitimer(signal.ITIMER_REAL, max(self.limit - spent, 1e-3))
            try:
                result = mutator.mutations(node)
            finally:
                if self.armed:
                    signal.setitimer(signal.ITIMER_REAL, 0)
        except _OutOfTime:
            raise self._overrun(bug_id) from None
        except Exception as exc:  # a third-party mutator must not take the session down
            raise MutatorError(bug_id, f"raised {type(exc).__name__}: {exc}") from exc
        self.spent[bug_id] = spent + time.perf_counter() - started
        if self.spent[bug_id] > self.limit:
            raise self._overrun(bug_id)
        if isinstance(result, (str, bytes)) or not isinstance(result, Sequence):
            raise MutatorError(
                bug_id,
                f"mutations() returned {type(result).__name__}; return a sequence of nodes, () for none",
            )
        described: list[tuple[Replacement, str]] = []
        for item in result:
            replacement, description = (
                (item.node, item.description) if isinstance(item, Rewrite) else (item, mutator.description)
            )
            if not isinstance(replacement, _NODE_TYPES):
                raise MutatorError(
                    bug_id, f"mutations() returned a {type(replacement).__name__} where a libcst node belongs"
                )
            described.append((replacement, description))
        return described

    def _overrun(self, bug_id: str) -> MutatorError:
        return MutatorError(
            bug_id, f"took longer than {self.limit:g} s in one pass over a module (a loop that never ends?)"
        )


#: where each site found in a module lies: its node and the node's ancestors, module first, so
#: that bugs can be written by rebuilding those paths alone (:func:`_apply_paths`); for the
#: modules :func:`find_sites` saw last (a module is kept alive while its entry is)
_SiteNodes = dict[tuple[str, int], tuple[tuple[cst.CSTNode, ...], cst.CSTNode, int]]
_SITE_NODES: collections.OrderedDict[int, tuple[cst.Module, _SiteNodes]] = collections.OrderedDict()
_SITE_NODES_KEPT = 64


def _remember_site_nodes(module: cst.Module, nodes: _SiteNodes) -> None:
    entry = _SITE_NODES.pop(id(module), None)
    known = entry[1] if entry is not None and entry[0] is module else {}
    known.update(nodes)
    _SITE_NODES[id(module)] = (module, known)
    while len(_SITE_NODES) > _SITE_NODES_KEPT:
        _SITE_NODES.popitem(last=False)


class _SiteFinder(cst.CSTVisitor):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, mutators: Sequence[Mutator], budget: _Budget, cursor: Cursor) -> None:
        super().__init__()
        self.mutators = mutators
        self.budget = budget
        self.cursor = cursor
        self.sites: dict[str, list[Site]] = {m.bug_id: [] for m in mutators}
        self.nodes: _SiteNodes = {}
        self._counters = {m.bug_id: 0 for m in mutators}
        self._ancestors: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self._ancestors.append(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self._ancestors.pop()
        self.cursor.at(original_node, self._ancestors)
        for mutator in self.mutators:
            alternatives = self.budget.offer(mutator, original_node)
            if not alternatives:
                continue
            where: CodeRange = self.get_metadata(PositionProvider, original_node)
            for alternative, (_, description) in enumerate(alternatives):
                index = self._counters[mutator.bug_id]
                self._counters[mutator.bug_id] += 1
                self.nodes[(mutator.bug_id, index)] = (tuple(self._ancestors), original_node, alternative)
                self.sites[mutator.bug_id].append(
                    Site(
                        mutator.bug_id,
                        index,
                        alternative,
                        where.start.line,
                        where.start.column,
                        where.end.line,
                        where.end.column,
                        description,
                    )
                )


class _SiteWriter(cst.CSTTransformer):
    def __init__(self, chosen: dict[str, dict[int, Mutator]], budget: _Budget, cursor: Cursor) -> None:
        super().__init__()
        self.budget = budget
        self.cursor = cursor
        self._ancestors: list[cst.CSTNode] = []
        # bug_id -> {site index -> mutator}
        self.chosen = chosen
        self.mutators = {m.bug_id: m for sites in chosen.values() for m in sites.values()}
        self._counters = {bug_id: 0 for bug_id in chosen}
        self.applied: set[tuple[str, int]] = set()

    def on_visit(self, node: cst.CSTNode) -> bool:
        self._ancestors.append(node)
        return True

    # libcst types on_leave as returning the node's own type; a mutation may return any node.
    def on_leave(  # type: ignore[override]
        self, original_node: cst.CSTNode, updated_node: cst.CSTNode
    ) -> Replacement:
        self._ancestors.pop()
        self.cursor.at(original_node, self._ancestors)
        replacement: Replacement = updated_node
        for bug_id, mutator in self.mutators.items():
            # Sites are counted on the original tree, so that numbers match find_sites; the
            # rewrite is built from the updated node, so that a bug already written inside it
            # (a site nested in this one) is kept.
            count = len(self.budget.offer(mutator, original_node))
            first = self._counters[bug_id]
            self._counters[bug_id] += count
            for index in self.chosen[bug_id]:
                if not first <= index < first + count:
                    continue
                if replacement is not updated_node:
                    raise MutatorError(bug_id, "two chosen sites share one node")
                alternatives = self.budget.offer(mutator, updated_node)
                if len(alternatives) != count:
                    raise MutatorError(bug_id, "a nested bug changed this site; the two do not compose")
                replacement = alternatives[index - first][0]
                self.applied.add((bug_id, index))
        return replacement


def parse(source: str) -> cst.Module:
    """The libcst module of ``source``, as :func:`find_sites` and :func:`apply_sites` take it."""
    return cst.parse_module(source)


def find_sites(module: cst.Module, mutators: Iterable[Mutator]) -> dict[str, list[Site]]:
    """Every site of every mutator in ``module``, in traversal order.

    Raises :class:`MutatorError` naming the first mutator that raises, returns something other
    than a sequence of nodes, or overruns :data:`MUTATOR_TIME_LIMIT`.
    """
    budget = _Budget(MUTATOR_TIME_LIMIT)
    with cursor_over(module) as cursor, budget.watching():
        finder = _SiteFinder(list(mutators), budget, cursor)
        MetadataWrapper(module, unsafe_skip_copy=True).visit(finder)
    _remember_site_nodes(module, finder.nodes)
    return finder.sites


def find_sites_isolating(
    module: cst.Module, mutators: Iterable[Mutator]
) -> tuple[dict[str, list[Site]], dict[str, str]]:
    """:func:`find_sites`, leaving out every broken mutator: ``(sites, broken)``.

    ``broken`` maps the bug ID of each mutator that failed to the reason. Sites are numbered
    per mutator, so the pass redone without a broken one gives the others the very same sites.
    """
    remaining = list(mutators)
    broken: dict[str, str] = {}
    while True:
        try:
            return find_sites(module, remaining), broken
        except MutatorError as exc:
            if exc.bug_id not in {m.bug_id for m in remaining}:
                raise
            broken[exc.bug_id] = exc.reason
            remaining = [m for m in remaining if m.bug_id != exc.bug_id]


def apply_sites(module: cst.Module, mutators: dict[str, Mutator], sites: Sequence[tuple[str, int]]) -> str:
    """Write the bugs at ``sites`` (``(bug_id, index)`` pairs) into ``module`` in one pass.

    Raises :class:`MutatorError` when a site does not exist, the result does not compile, or
    the mutator returned the source unchanged: such a variant is never emitted.
    """
    chosen: dict[str, dict[int, Mutator]] = {}
    for bug_id, index in sites:
        chosen.setdefault(bug_id, {})[index] = mutators[bug_id]
    budget = _Budget(MUTATOR_TIME_LIMIT)
    try:
        with cursor_over(module) as cursor, budget.watching():
            writer = _SiteWriter(chosen, budget, cursor)
            mutated = _apply_paths(module, sites, mutators, budget, cursor)
            if mutated is None:
                mutated = module.visit(writer)
            else:
                writer.applied.update(sites)
        code = mutated.code
    except MutatorError:
        raise
    except Exception as exc:
        ids = ",".join(sorted(chosen))
        raise MutatorError(ids, f"produced an invalid tree: {type(exc).__name__}: {exc}") from exc
    missing = set(sites) - writer.applied
    if missing:
        bug_id, index = sorted(missing)[0]
        raise MutatorError(bug_id, f"has no site {index} in this source")
    if code == module.code:
        raise MutatorError(",".join(sorted(chosen)), "returned the source unchanged")
    try:
        compile(code, "<mlbugs variant>", "exec")
    except (SyntaxError, ValueError) as exc:
        raise MutatorError(",".join(sorted(chosen)), f"produced code that does not compile: {exc}") from exc
    return code


def _apply_paths(
    module: cst.Module,
    sites: Sequence[tuple[str, int]],
    mutators: dict[str, Mutator],
    budget: _Budget,
    cursor: Cursor,
) -> cst.Module | None:
    """The bugs written by rebuilding only the paths from the module to their nodes, where
    :func:`find_sites` saw those sites in this very module, each bug replaces one node with
    another and no chosen node lies inside another; ``None`` otherwise (the full pass of
    :class:`_SiteWriter` does it). The tree is the one the full pass builds, so the code is byte
    for byte the same, in a fraction of the time."""
    entry = _SITE_NODES.get(id(module))
    if entry is None or entry[0] is not module:
        return None
    rebuilt: dict[int, cst.CSTNode] = {}  # id of an original node -> the node in its place
    children: dict[int, list[cst.CSTNode]] = collections.defaultdict(list)  # parent -> changed children
    parents: dict[int, tuple[int, cst.CSTNode]] = {}  # id -> (depth, node) of every ancestor to rebuild
    for bug_id, index in sites:
        found = entry[1].get((bug_id, index))
        if found is None:
            return None
        ancestors, node, alternative = found
        cursor.at(node, ancestors)
        alternatives = budget.offer(mutators[bug_id], node)
        if alternative >= len(alternatives) or id(node) in rebuilt:
            return None
        replacement = alternatives[alternative][0]
        if not isinstance(replacement, cst.CSTNode):
            return None  # removal or several nodes: the full pass knows how to splice them
        rebuilt[id(node)] = replacement
        for depth, (parent, child) in enumerate(zip(ancestors, (*ancestors[1:], node), strict=True)):
            if not any(known is child for known in children[id(parent)]):
                children[id(parent)].append(child)
            parents[id(parent)] = (depth, parent)
    if any(key in parents for key in rebuilt):
        return None  # a chosen node inside another: the full pass rewrites the inner one first
    for _depth, parent in sorted(parents.values(), key=lambda pair: -pair[0]):
        node = parent
        for child in children[id(parent)]:
            replaced = _with_child(node, child, rebuilt[id(child)])
            if replaced is None:
                return None
            node = replaced
        rebuilt[id(parent)] = node
    result = rebuilt[id(module)]
    return result if isinstance(result, cst.Module) else None


def _with_child(parent: cst.CSTNode, old: cst.CSTNode, new: cst.CSTNode) -> cst.CSTNode | None:
    """``parent`` with its child ``old`` (a field, or an item of a sequence field) replaced."""
    for field in dataclasses.fields(parent):
        value = getattr(parent, field.name)
        if value is old:
            return parent.with_changes(**{field.name: new})
        if isinstance(value, (tuple, list)) and any(item is old for item in value):
            items = [new if item is old else item for item in value]
            return parent.with_changes(**{field.name: type(value)(items)})
    return None


def changed_span(before: str, after: str) -> tuple[int, int, int]:
    """Where ``after`` differs from ``before``, as one stretch: ``(start, end, after_end)`` with
    ``after == before[:start] + after[start:after_end] + before[end:]``, the common prefix taken
    as long as it goes, then the common suffix as long as what is left allows."""
    limit = min(len(before), len(after))
    start = _common_length(lambda n: before[:n] == after[:n], limit)
    tail = _common_length(lambda n: before[len(before) - n :] == after[len(after) - n :], limit - start)
    return start, len(before) - tail, len(after) - tail


def _common_length(agrees: Callable[[int], bool], limit: int) -> int:
    """The largest ``n <= limit`` for which ``agrees(n)``, where agreeing on ``n`` characters means
    agreeing on fewer: a binary search of slice comparisons, fast on long sources."""
    low, high = 0, limit
    while low < high:
        middle = (low + high + 1) // 2
        if agrees(middle):
            low = middle
        else:
            high = middle - 1
    return low


def mutate_source(source: str, mutator: Mutator, site: int = 0) -> str:
    """Apply one mutator at one site of ``source``: the form examples and users reach for."""
    return apply_sites(parse(source), {mutator.bug_id: mutator}, [(mutator.bug_id, site)])


def unified_diff(before: str, after: str, *, fromfile: str, tofile: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=fromfile,
            tofile=tofile,
        )
    )
