"""What surrounds a site: the context a mutator reads through :attr:`.Mutator.context`.

Built lazily and cached per module (parents, the enclosing function and class, assignments,
qualified names), so that a mutator that does not ask pays nothing.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from typing import Any

import libcst as cst
import libcst.matchers as m
from libcst.metadata import MetadataWrapper, QualifiedNameProvider
from libcst.metadata.base_provider import LazyValue


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


class Cursor:
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


_CURSOR: contextvars.ContextVar[Cursor | None] = contextvars.ContextVar("mlbugs_site_cursor", default=None)
_EMPTY_CONTEXT = SiteContext(None, (), None)


def current_context() -> SiteContext:
    """The context of the node the engine is offering now; an empty one outside the engine."""
    cursor = _CURSOR.get()
    if cursor is None or cursor.node is None:
        return _EMPTY_CONTEXT
    return cursor.context()


@contextlib.contextmanager
def cursor_over(module: cst.Module) -> Iterator[Cursor]:
    cursor = Cursor(_module_info(module))
    token = _CURSOR.set(cursor)
    try:
        yield cursor
    finally:
        _CURSOR.reset(token)
