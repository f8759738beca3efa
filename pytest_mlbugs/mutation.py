"""The mutation engine: mutators, their sites, and how a bug is written into source.

A mutator is a class with one job: given a libcst node, say which buggy replacements it
could put in its place (:meth:`Mutator.mutations`). Everything else (finding every site in a
module, addressing a site by number, applying several bugs at once, refusing output that does
not compile) lives here, once, so that a mutator stays a few lines of pattern and rewrite.

Sites are numbered in one deterministic traversal order, post-order as ``on_leave`` sees the
nodes: an inner node counts before the node around it (in ``-log(x.arange(...))`` the
``arange`` call is a lower site number than the ``-log``). So ``(bug_id, index)`` names the same
place in the same source on every machine (cosmic-ray's "occurrence"), and ``Example(site=...)``
counts the same way.

A mutator that needs to know what surrounds a site (the enclosing function and class, the call a
node is an argument of, what a name was assigned from, qualified names) reads
:attr:`Mutator.context`, a :class:`SiteContext` the engine provides for the node it is offering,
built lazily and cached per module, so that asking costs nothing for the mutators that do not.
``mutations(self, node)`` keeps its signature. A replacement may be a :class:`Rewrite`, which
names the bug it really writes at that site (a dropout skipped inside attention is "attention
dropout skipped"); :attr:`Site.description` carries it, or the mutator's ``description``.

Third-party mutators run here too, so nothing a mutator does may take the session down: an
exception becomes a :class:`MutatorError` naming it, so does a return value that is not a
sequence of nodes, and each mutator has :data:`MUTATOR_TIME_LIMIT` seconds per pass over one
module (a ``SIGALRM`` timer in the main thread stops one that loops). :func:`find_sites_isolating`
leaves such a mutator out and reports it, so that the others' sites are found all the same.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import dataclasses
import difflib
import enum
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar, Union

import libcst as cst
import libcst.matchers as m
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider, QualifiedNameProvider
from libcst.metadata.base_provider import LazyValue

Replacement = Union[cst.CSTNode, cst.RemovalSentinel, cst.FlattenSentinel]  # noqa: UP007 (a runtime alias)


@dataclasses.dataclass(frozen=True)
class Rewrite:
    """A replacement that names the bug it writes at this site.

    A mutator returns one in place of a bare node when its site's surroundings make another
    description truer than the mutator's own ``description``: the dropout that
    ``pe_dropout_skipped`` removes inside attention is "attention dropout skipped". The engine
    unwraps it; the description reaches :attr:`Site.description` and the variant's bugs.
    """

    node: Replacement
    description: str


class Category(str, enum.Enum):
    """Where a bug lives, in the words of the debugging guide."""

    DATA = "data"
    TARGET = "target"
    OBJECTIVE = "objective"
    SHAPES = "shapes"
    NUMERICS = "numerics"
    OPTIMIZATION = "optimization"
    EVALUATION = "evaluation"
    STATE_DEVICE = "state/device"


class Layer(str, enum.Enum):
    """The ordered debugging procedure: look at the data first, the evaluation last."""

    DATA = "data"
    TARGET = "target"
    SHAPES = "shapes"
    LOSS = "loss"
    NUMERICS = "numerics"
    UPDATES = "updates"
    EVALUATION = "evaluation"

    @property
    def step(self) -> int:
        return list(Layer).index(self) + 1


@dataclasses.dataclass(frozen=True)
class Example:
    """``before`` becomes ``after`` when the mutator is applied at site ``site`` of ``before``."""

    before: str
    after: str
    site: int = 0


@dataclasses.dataclass(frozen=True)
class Site:
    """One place in one source where one mutator can write its bug."""

    bug_id: str
    index: int
    alternative: int
    start_line: int
    start_column: int
    end_line: int
    end_column: int
    #: the bug written at this site: the mutator's ``description``, or the one its
    #: :class:`Rewrite` gave for this context
    description: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.bug_id, self.index)

    def overlaps(self, other: Site) -> bool:
        return not (
            (self.end_line, self.end_column) <= (other.start_line, other.start_column)
            or (other.end_line, other.end_column) <= (self.start_line, self.start_column)
        )


class MutatorError(Exception):
    """A mutator raised or produced something unusable; names the mutator."""

    def __init__(self, bug_id: str, message: str) -> None:
        super().__init__(f"mutator {bug_id}: {message}")
        self.bug_id = bug_id
        #: the message without the mutator's name
        self.reason = message


class _ModuleInfo:
    """What the engine knows about one module beyond its tree, computed on first request and
    kept while the module is (:data:`_MODULE_INFO`): qualified names (libcst's scope analysis,
    the one expensive part, run only when a mutator asks), the names bound at module level,
    and each function's assignments."""

    def __init__(self, module: cst.Module) -> None:
        self.module = module
        self._qualified: Any = None
        self._globals: frozenset[str] | None = None
        self._assignments: dict[int, list[tuple[str, cst.BaseExpression, cst.CSTNode]]] = {}
        self._order: dict[int, int] | None = None

    def order(self, node: cst.CSTNode) -> int | None:
        """The place of ``node`` in a pre-order walk of the module: what comes first in the
        source has the smaller number."""
        if self._order is None:
            numbers: dict[int, int] = {}

            class _Number(cst.CSTVisitor):
                def on_visit(self, visited: cst.CSTNode) -> bool:
                    numbers[id(visited)] = len(numbers)
                    return True

            self.module.visit(_Number())
            self._order = numbers
        return self._order.get(id(node))

    def qualified_names(self, node: cst.CSTNode) -> frozenset[str]:
        if self._qualified is None:
            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            self._qualified = wrapper.resolve(QualifiedNameProvider)
        found = self._qualified.get(node, ())
        if isinstance(found, LazyValue):  # libcst computes qualified names per node on demand
            found = found()
        return frozenset(q.name for q in found)

    def global_names(self) -> frozenset[str]:
        if self._globals is None:
            self._globals = frozenset(_bound_names(self.module.body))
        return self._globals

    def assignments(self, scope: cst.CSTNode) -> list[tuple[str, cst.BaseExpression, cst.CSTNode]]:
        """``(name, value, statement)`` of every ``name = value`` in ``scope`` (a function or the
        module, nested functions and classes left out), in source order; tuple targets pair up
        with tuple values element by element."""
        key = id(scope)
        if key not in self._assignments:
            collector = _AssignmentCollector(scope)
            scope.visit(collector)
            self._assignments[key] = collector.found
        return self._assignments[key]


def _bound_names(statements: Sequence[cst.CSTNode]) -> set[str]:
    """Names that module-level ``statements`` bind: imports, assignments, defs and classes (also
    inside ``if``/``try`` blocks, as guarded imports are)."""
    names: set[str] = set()
    for statement in statements:
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            names.add(statement.name.value)
        elif isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)):
                    if isinstance(small.names, cst.ImportStar):
                        continue
                    for alias in small.names:
                        if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                            names.add(alias.asname.name.value)
                        else:
                            names.add(_dotted(alias.name).split(".")[0])
                elif isinstance(small, cst.Assign):
                    for target in small.targets:
                        names.update(n.value for n in _target_names(target.target))
                elif isinstance(small, cst.AnnAssign):
                    names.update(n.value for n in _target_names(small.target))
        elif isinstance(statement, (cst.If, cst.Try, cst.With)):
            for block in _blocks(statement):
                names |= _bound_names(block.body)
    return names


def _blocks(statement: cst.CSTNode) -> list[cst.IndentedBlock]:
    found: list[cst.IndentedBlock] = []
    for child in statement.children:
        if isinstance(child, cst.IndentedBlock):
            found.append(child)
        elif isinstance(child, (cst.If, cst.Else, cst.ExceptHandler, cst.Finally)):
            found.extend(_blocks(child))
    return found


def _dotted(expr: cst.BaseExpression) -> str:
    if isinstance(expr, cst.Attribute):
        return f"{_dotted(expr.value)}.{expr.attr.value}"
    return expr.value if isinstance(expr, cst.Name) else ""


def _target_names(target: cst.BaseExpression) -> list[cst.Name]:
    if isinstance(target, cst.Name):
        return [target]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for element in target.elements for n in _target_names(element.value)]
    return []


class _AssignmentCollector(cst.CSTVisitor):
    def __init__(self, scope: cst.CSTNode) -> None:
        super().__init__()
        self.scope = scope
        self.found: list[tuple[str, cst.BaseExpression, cst.CSTNode]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if node is not self.scope and isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            return False
        if isinstance(node, cst.Assign):
            for target in node.targets:
                self._pair(target.target, node.value, node)
        elif isinstance(node, cst.AnnAssign) and node.value is not None:
            self._pair(node.target, node.value, node)
        return True

    def _pair(self, target: cst.BaseExpression, value: cst.BaseExpression, statement: cst.CSTNode) -> None:
        if isinstance(target, (cst.Name, cst.Attribute)):
            name = _dotted(target)
            if name:
                self.found.append((name, value, statement))
        elif isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (cst.Tuple, cst.List)):
            if len(target.elements) == len(value.elements):
                for t, v in zip(target.elements, value.elements, strict=True):
                    self._pair(t.value, v.value, statement)


_MODULE_INFO: collections.OrderedDict[int, _ModuleInfo] = collections.OrderedDict()
_MODULE_INFO_KEPT = 16


def _module_info(module: cst.Module) -> _ModuleInfo:
    info = _MODULE_INFO.pop(id(module), None)
    if info is None or info.module is not module:
        info = _ModuleInfo(module)
    _MODULE_INFO[id(module)] = info
    while len(_MODULE_INFO) > _MODULE_INFO_KEPT:
        _MODULE_INFO.popitem(last=False)
    return info


class SiteContext:
    """What surrounds the node a mutator is looking at: its parents, the enclosing function and
    class, the call it is an argument of, what a name was assigned from, qualified names.

    Read it as :attr:`Mutator.context` inside :meth:`Mutator.mutations`. It always describes the
    node of the *original* module that the site is (when the engine rebuilds a site around a
    nested bug, the node passed to ``mutations`` is a changed copy; the context stays the
    original's). Outside the engine (``mutations`` called directly) it is empty: no parents, no
    module, and every question gets the answer "unknown" (``None``, an empty tuple).

    Example::

        def mutations(self, node):
            function = self.context.function
            if function is None or function.name.value != "forward":
                return ()
            ...
    """

    def __init__(
        self, info: _ModuleInfo | None, ancestors: Sequence[cst.CSTNode], node: cst.CSTNode | None
    ) -> None:
        self._info = info
        #: the node of the site, in the original module; ``None`` outside the engine
        self.node = node
        #: the enclosing nodes, innermost first (the module last)
        self.ancestors: tuple[cst.CSTNode, ...] = tuple(reversed(ancestors))

    @property
    def module(self) -> cst.Module | None:
        return None if self._info is None else self._info.module

    @property
    def parent(self) -> cst.CSTNode | None:
        return self.ancestors[0] if self.ancestors else None

    def enclosing(self, *types: type[cst.CSTNode]) -> cst.CSTNode | None:
        """The innermost ancestor of one of ``types``."""
        return next((a for a in self.ancestors if isinstance(a, types)), None)

    @property
    def function(self) -> cst.FunctionDef | None:
        """The innermost function the site is in (a method is a function)."""
        found = self.enclosing(cst.FunctionDef)
        return found if isinstance(found, cst.FunctionDef) else None

    @property
    def class_def(self) -> cst.ClassDef | None:
        """The innermost class the site is in."""
        found = self.enclosing(cst.ClassDef)
        return found if isinstance(found, cst.ClassDef) else None

    @property
    def scope_names(self) -> tuple[str, ...]:
        """The names of the enclosing functions and classes, innermost first."""
        return tuple(a.name.value for a in self.ancestors if isinstance(a, (cst.FunctionDef, cst.ClassDef)))

    @property
    def statement(self) -> cst.CSTNode | None:
        """The innermost statement that holds the site (the site itself when it is one)."""
        for candidate in (self.node, *self.ancestors):
            if isinstance(candidate, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
                return candidate
        return None

    @property
    def call(self) -> tuple[cst.Call, cst.Arg] | None:
        """``(call, argument)`` when the site is (inside) an argument of a call: the innermost
        such call and the argument that holds the site."""
        path = (self.node, *self.ancestors)
        for i, ancestor in enumerate(path[1:], start=1):
            if isinstance(ancestor, cst.Call) and isinstance(path[i - 1], cst.Arg):
                arg = path[i - 1]
                assert isinstance(arg, cst.Arg)
                return ancestor, arg
        return None

    def assignments(self, name: str) -> list[cst.BaseExpression]:
        """The values assigned to ``name`` (a plain or dotted name such as ``self.scale``) in the
        site's function, or at module level outside any function, in source order."""
        if self._info is None:
            return []
        scope: cst.CSTNode = self.function or self._info.module
        return [value for bound, value, _ in self._info.assignments(scope) if bound == name]

    def class_assignments(self, name: str) -> list[cst.BaseExpression]:
        """The values assigned to ``self.<name>`` in any method of the site's class."""
        cls = self.class_def
        if self._info is None or cls is None:
            return []
        values: list[cst.BaseExpression] = []
        for statement in cls.body.body:
            if isinstance(statement, cst.FunctionDef):
                values += [v for bound, v, _ in self._info.assignments(statement) if bound == f"self.{name}"]
        return values

    def module_assignments(self, name: str) -> list[cst.BaseExpression]:
        """The values assigned to ``name`` anywhere in the module, in any function (names are
        matched by spelling: a crude but useful link from a parameter to what callers pass)."""
        if self._info is None:
            return []
        info = self._info
        scopes: list[cst.CSTNode] = [info.module, *m.findall(info.module, m.FunctionDef())]
        return [v for scope in scopes for bound, v, _ in info.assignments(scope) if bound == name]

    def value_of(self, expr: cst.BaseExpression) -> cst.BaseExpression | None:
        """What ``expr`` was last assigned from before the site: for a name, its last
        assignment in the function that comes before the site's statement; for
        ``self.attr``, the one assignment of it in the class. ``None`` when unknown."""
        if self._info is None:
            return None
        if isinstance(expr, cst.Attribute) and _dotted(expr.value) == "self":
            values = self.class_assignments(expr.attr.value)
            return values[0] if len(values) == 1 else None
        if not isinstance(expr, cst.Name):
            return None
        scope: cst.CSTNode = self.function or self._info.module
        here = self._info.order(self.node) if self.node is not None else None
        if here is None:
            return None
        inside = {id(a) for a in self.ancestors}
        last: cst.BaseExpression | None = None
        for bound, value, where in self._info.assignments(scope):
            order = self._info.order(where)
            if order is None or order >= here:
                break
            if bound == expr.value and id(where) not in inside:
                last = value
        return last

    def qualified_names(self, expr: cst.CSTNode) -> frozenset[str]:
        """libcst's qualified names of ``expr`` (a node of the original module), e.g.
        ``{"torch.nn.functional.softmax"}`` for ``F.softmax`` after ``import torch.nn.functional
        as F``. Computed once per module, on first request (a scope analysis: use it where a
        plainer test will not do)."""
        return frozenset() if self._info is None else self._info.qualified_names(expr)

    def is_global(self, name: str) -> bool:
        """Whether the module binds ``name`` at top level (an import, an assignment, a def)."""
        return self._info is not None and name in self._info.global_names()


class _Cursor:
    """The node the engine is offering to mutators, in one pass over one module."""

    def __init__(self, info: _ModuleInfo) -> None:
        self.info = info
        self.node: cst.CSTNode | None = None
        self.ancestors: Sequence[cst.CSTNode] = ()
        self._context: SiteContext | None = None

    def at(self, node: cst.CSTNode, ancestors: Sequence[cst.CSTNode]) -> None:
        if node is not self.node:
            self.node, self.ancestors, self._context = node, ancestors, None

    def context(self) -> SiteContext:
        if self._context is None or self._context.node is not self.node:
            self._context = SiteContext(self.info, self.ancestors, self.node)
        return self._context


_CURSOR: contextvars.ContextVar[_Cursor | None] = contextvars.ContextVar("mlbugs_site_cursor", default=None)
_EMPTY_CONTEXT = SiteContext(None, (), None)


@contextlib.contextmanager
def _cursor_over(module: cst.Module) -> Iterator[_Cursor]:
    cursor = _Cursor(_module_info(module))
    token = _CURSOR.set(cursor)
    try:
        yield cursor
    finally:
        _CURSOR.reset(token)


class Mutator:
    """Base class of every bug category.

    Subclasses set the class attributes below and implement :meth:`mutations`. The class
    docstring is the catalogue entry: why the bug happens in real code and how it hides.
    """

    bug_id: ClassVar[str]
    #: components of ``CONTRACTS.md`` whose references contain at least one site
    components: ClassVar[tuple[str, ...]]
    category: ClassVar[Category]
    #: the step of the debugging procedure where a person would find it
    layer: ClassVar[Layer]
    #: one line, as printed by ``--mlbugs-list``
    description: ClassVar[str]
    #: what a person sees in training ("loss is flat", "NaN after a few steps")
    symptom: ClassVar[str]
    hint: ClassVar[str]
    fix: ClassVar[str]
    #: loud bugs crash or produce NaN; silent ones train on, only worse
    loud: ClassVar[bool] = False
    #: node classes worth offering to :meth:`mutations`; narrows the traversal
    node_types: ClassVar[tuple[type[cst.CSTNode], ...]] = (cst.CSTNode,)
    EXAMPLES: ClassVar[Sequence[Example]] = ()
    UNCHANGED: ClassVar[Sequence[str]] = ()
    #: where the mutator came from: "pytest-mlbugs", a conftest path or a distribution
    origin: ClassVar[str] = "pytest-mlbugs"

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement | Rewrite]:
        """Return the buggy replacements for ``node``; an empty sequence when it is no site.

        A :class:`Rewrite` in place of a node names the bug written at this site when that is
        more precise than ``description``.
        """
        raise NotImplementedError

    @property
    def context(self) -> SiteContext:
        """The surroundings of the node :meth:`mutations` is looking at (empty outside the
        engine)."""
        cursor = _CURSOR.get()
        if cursor is None or cursor.node is None:
            return _EMPTY_CONTEXT
        return cursor.context()

    @classmethod
    def explanation(cls) -> str:
        return " ".join((cls.__doc__ or "").split())


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
#: that one bug can be written by rebuilding that path alone (:func:`_apply_one`); for the
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

    def __init__(self, mutators: Sequence[Mutator], budget: _Budget, cursor: _Cursor) -> None:
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
    def __init__(self, chosen: dict[str, dict[int, Mutator]], budget: _Budget, cursor: _Cursor) -> None:
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
    with _cursor_over(module) as cursor, budget.watching():
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
        with _cursor_over(module) as cursor, budget.watching():
            writer = _SiteWriter(chosen, budget, cursor)
            mutated = _apply_one(module, sites, mutators, budget, cursor) if len(sites) == 1 else None
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


def _apply_one(
    module: cst.Module,
    sites: Sequence[tuple[str, int]],
    mutators: dict[str, Mutator],
    budget: _Budget,
    cursor: _Cursor,
) -> cst.Module | None:
    """One bug written by rebuilding only the path from the module to its node, where
    :func:`find_sites` saw that site in this very module and the bug replaces one node with
    another; ``None`` otherwise (the full pass of :class:`_SiteWriter` does it). The tree is the
    one the full pass builds, so the code is byte for byte the same, in a fraction of the time."""
    entry = _SITE_NODES.get(id(module))
    if entry is None or entry[0] is not module:
        return None
    found = entry[1].get((sites[0][0], sites[0][1]))
    if found is None:
        return None
    ancestors, node, alternative = found
    cursor.at(node, ancestors)
    alternatives = budget.offer(mutators[sites[0][0]], node)
    if alternative >= len(alternatives):
        return None
    replacement = alternatives[alternative][0]
    if not isinstance(replacement, cst.CSTNode):
        return None  # removal or several nodes: the full pass knows how to splice them
    child: cst.CSTNode = node
    for parent in reversed(ancestors):
        rebuilt = _with_child(parent, child, replacement)
        if rebuilt is None:
            return None
        child, replacement = parent, rebuilt
    return replacement if isinstance(replacement, cst.Module) else None


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
