"""Module-private helper functions inlined at their one call site, or extracted from a value."""

from __future__ import annotations

from collections.abc import Mapping

import libcst as cst
import libcst.matchers as m
from libcst.metadata import BuiltinScope, GlobalScope, MetadataWrapper, Scope, ScopeProvider

from pytest_mlbugs.practice.rewrites.chance import fires
from pytest_mlbugs.practice.rewrites.syntax import dotted, identifiers, is_docstring, parenthesized

#: how often a rule fires at a site, in 1/256ths
INLINE_RATE = 128
HELPER_RATE = 40
#: the most parameters an extracted helper takes
HELPER_MAX_PARAMS = 3


def _scopes(wrapper: MetadataWrapper) -> dict[cst.CSTNode, Scope | None]:
    return dict(wrapper.resolve(ScopeProvider))


def _is_global(scope: Scope | None, name: str) -> bool | None:
    """Whether ``name`` read in ``scope`` is a module-level or builtin name (``None``: unknown)."""
    if scope is None:
        return None
    assignments = scope[name]
    if not assignments:
        return None
    return all(isinstance(a.scope, (GlobalScope, BuiltinScope)) for a in assignments)


_SCOPED = (
    cst.Lambda,
    cst.NamedExpr,
    cst.ListComp,
    cst.SetComp,
    cst.DictComp,
    cst.GeneratorExp,
    cst.Yield,
    cst.Await,
)


def _has_own_scope(node: cst.CSTNode) -> bool:
    found = False

    class Find(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            nonlocal found
            if isinstance(node, _SCOPED) or (
                isinstance(node, cst.Name) and node.value in ("super", "__class__")
            ):
                found = True
            return not found

    node.visit(Find())
    return found


def _only_returns(function: cst.FunctionDef) -> cst.BaseExpression | None:
    """The expression of a function whose body (past its docstring) is ``return <expr>``."""
    if not isinstance(function.body, cst.IndentedBlock):
        return None
    body = list(function.body.body)
    if body and is_docstring(body[0]):
        body = body[1:]
    if len(body) != 1 or not m.matches(body[0], m.SimpleStatementLine(body=[m.Return()])):
        return None
    statement = body[0]
    assert isinstance(statement, cst.SimpleStatementLine) and isinstance(statement.body[0], cst.Return)
    return statement.body[0].value


def _plain_params(function: cst.FunctionDef) -> list[str] | None:
    params = function.params
    if params.star_arg is not cst.MaybeSentinel.DEFAULT or params.kwonly_params or params.star_kwarg:
        return None
    if params.posonly_params or any(p.default is not None for p in params.params):
        return None
    return [p.name.value for p in params.params]


def inline_helpers(module: cst.Module, *, seed: int) -> cst.Module:
    """``_helper(a, b)`` -> the helper's returned expression with its parameters replaced, for a
    module-private helper called exactly once with plain names or attributes as arguments."""
    wrapper = MetadataWrapper(module)
    scopes = _scopes(wrapper)
    tree = wrapper.module
    global_scope = scopes.get(tree)
    if not isinstance(global_scope, GlobalScope):
        return module
    replace: dict[cst.CSTNode, cst.BaseExpression] = {}
    remove: set[cst.CSTNode] = set()
    for statement in tree.body:
        if not isinstance(statement, cst.FunctionDef) or statement.decorators:
            continue
        name = statement.name.value
        expression = _only_returns(statement)
        params = _plain_params(statement)
        if not name.startswith("_") or expression is None or params is None or _has_own_scope(expression):
            continue
        uses = [access.node for a in global_scope[name] for access in a.references]
        if len(uses) != 1 or len(global_scope[name]) != 1:
            continue
        call = next((n for n in _calls(tree) if n.func is uses[0]), None)
        if call is None or len(call.args) != len(params):
            continue
        arguments = [a.value for a in call.args]
        if any(a.keyword is not None or a.star for a in call.args) or any(
            dotted(v) is None for v in arguments
        ):
            continue
        # the helper's own global names must mean the same at the call site
        inner = _free_names(expression) - set(params)
        if not all(_is_global(scopes.get(uses[0]), g) for g in inner):
            continue
        text = tree.code_for_node(statement) + tree.code_for_node(call)
        if not fires(seed, "inline", text, INLINE_RATE):
            continue
        body_scope = next((scopes.get(n) for n in _names_in(expression)), None)
        if body_scope is None:
            continue
        by_param = dict(zip(params, arguments, strict=True))
        substitutions: dict[cst.CSTNode, cst.BaseExpression] = {
            access.node: by_param[param]
            for param in params
            for a in body_scope[param]
            for access in a.references
        }
        replace[call] = parenthesized(_Substitute(substitutions).substitute(expression))
        remove.add(statement)
    if not replace:
        return module

    class Inline(cst.CSTTransformer):
        def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
            return replace.get(original_node, updated_node)

        def leave_FunctionDef(
            self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
        ) -> cst.FunctionDef | cst.RemovalSentinel:
            return cst.RemoveFromParent() if original_node in remove else updated_node

    return tree.visit(Inline())


class _Substitute(cst.CSTTransformer):
    def __init__(self, substitutions: Mapping[cst.CSTNode, cst.BaseExpression]) -> None:
        super().__init__()
        self.substitutions = substitutions

    def substitute(self, expression: cst.BaseExpression) -> cst.BaseExpression:
        result = expression.visit(self)
        assert isinstance(result, cst.BaseExpression)
        return result

    def on_leave(  # type: ignore[override]
        self, original_node: cst.CSTNode, updated_node: cst.CSTNode
    ) -> cst.CSTNode:
        return self.substitutions.get(original_node, updated_node)


def _calls(tree: cst.CSTNode) -> list[cst.Call]:
    found: list[cst.Call] = []

    class Collect(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            found.append(node)

    tree.visit(Collect())
    return found


def _names_in(expression: cst.CSTNode) -> list[cst.Name]:
    found: list[cst.Name] = []

    class Collect(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            found.append(node)

    expression.visit(Collect())
    return found


def _free_names(expression: cst.BaseExpression) -> set[str]:
    """The names an expression reads (not attribute names, not keywords)."""
    return {node.value for node in _loads(expression)}


def _loads(node: cst.CSTNode) -> list[cst.Name]:
    if isinstance(node, cst.Name):
        return [node]
    if isinstance(node, cst.Attribute):
        return _loads(node.value)
    if isinstance(node, cst.Arg):
        return _loads(node.value)
    return [name for child in node.children for name in _loads(child)]


class _HelperCandidate:
    """An assignment whose value can move into a module-level helper: its parameters (a local
    name, or an attribute of one read as a value) in order of first use."""

    def __init__(self, value: cst.BaseExpression, scope: Scope) -> None:
        self.params: dict[str, cst.BaseExpression] = {}
        self.hoisted: dict[cst.CSTNode, str] = {}
        self.ok = True
        self._walk(value, scope, is_callee=False)
        if self.ok:
            self.ok = 0 < len(self.params) <= HELPER_MAX_PARAMS and "self" not in self.params

    def _param(self, name: str, expression: cst.BaseExpression) -> None:
        known = self.params.get(name)
        if known is not None and not known.deep_equals(expression):
            self.ok = False
        self.params[name] = expression

    def _walk(self, node: cst.CSTNode, scope: Scope, *, is_callee: bool) -> None:
        if not self.ok:
            return
        if isinstance(node, cst.Name):
            is_global = _is_global(scope, node.value)
            if is_global is None:
                self.ok = False
            elif not is_global:
                self._param(node.value, node)
            return
        if isinstance(node, cst.Attribute):
            root = dotted(node)
            base = root.split(".")[0] if root else None
            if root is not None and base is not None and not is_callee and _is_global(scope, base) is False:
                self.hoisted[node] = node.attr.value
                self._param(node.attr.value, node)
                return
            self._walk(node.value, scope, is_callee=False)
            return
        if isinstance(node, cst.Call):
            self._walk(node.func, scope, is_callee=True)
            for arg in node.args:
                self._walk(arg.value, scope, is_callee=False)
            return
        for child in node.children:
            self._walk(child, scope, is_callee=False)


def extract_helpers(module: cst.Module, *, seed: int, avoid: set[str]) -> cst.Module:
    """``x = <expr>`` in a function -> ``x = _x(a, b)`` and ``def _x(a, b): return <expr>``
    above the function's top-level statement, for an expression without scopes of its own."""
    wrapper = MetadataWrapper(module)
    scopes = _scopes(wrapper)
    tree = wrapper.module
    taken = identifiers(tree) | avoid
    calls: dict[cst.CSTNode, cst.BaseExpression] = {}
    helpers: dict[cst.CSTNode, list[cst.FunctionDef]] = {}
    for top in tree.body:
        if not isinstance(top, (cst.FunctionDef, cst.ClassDef)):
            continue
        for statement in _assignments_in_functions(top):
            assign = statement.body[0]
            assert isinstance(assign, cst.Assign)
            target = assign.targets[0].target
            value = assign.value
            if not isinstance(target, cst.Name) or not isinstance(value, (cst.BinaryOperation, cst.Call)):
                continue
            if isinstance(value, cst.Call) and isinstance(value.func, cst.Name):
                continue  # a helper that only wraps one call of a function reads as padding
            scope = scopes.get(value) or scopes.get(target)
            if scope is None or _has_own_scope(value):
                continue
            text = tree.code_for_node(statement)
            if not fires(seed, "helper", text, HELPER_RATE):
                continue
            candidate = _HelperCandidate(value, scope)
            name = next((n for n in (f"_{target.value}", f"_compute_{target.value}") if n not in taken), None)
            if not candidate.ok or name is None:
                continue
            if set(candidate.params) & {g for g in _free_names(value) if _is_global(scope, g)}:
                continue  # a hoisted attribute's parameter would hide a global the helper reads
            taken.add(name)
            body = _Substitute(
                {node: cst.Name(param) for node, param in candidate.hoisted.items()}
            ).substitute(value)
            helper = cst.FunctionDef(
                name=cst.Name(name),
                params=cst.Parameters([cst.Param(cst.Name(p)) for p in candidate.params]),
                body=cst.IndentedBlock([cst.SimpleStatementLine([cst.Return(body)])]),
            )
            helpers.setdefault(top, []).append(helper)
            calls[value] = cst.Call(
                func=cst.Name(name), args=[cst.Arg(expression) for expression in candidate.params.values()]
            )
    if not calls:
        return module

    class Extract(cst.CSTTransformer):
        def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
            return calls.get(original_node, updated_node)

        def leave_BinaryOperation(
            self, original_node: cst.BinaryOperation, updated_node: cst.BinaryOperation
        ) -> cst.BaseExpression:
            return calls.get(original_node, updated_node)

        def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
            body: list[cst.BaseStatement] = []
            for original, statement in zip(original_node.body, updated_node.body, strict=True):
                added = helpers.get(original, [])
                for number, helper in enumerate(added):
                    blank = statement.leading_lines if number == 0 else (cst.EmptyLine(), cst.EmptyLine())
                    body.append(helper.with_changes(leading_lines=blank))
                if added:
                    statement = statement.with_changes(leading_lines=(cst.EmptyLine(), cst.EmptyLine()))
                body.append(statement)
            return updated_node.with_changes(body=body)

    return tree.visit(Extract())


def _assignments_in_functions(top: cst.CSTNode) -> list[cst.SimpleStatementLine]:
    """``name = value`` statements inside the functions of ``top``, in source order."""
    found: list[cst.SimpleStatementLine] = []

    class Collect(cst.CSTVisitor):
        def __init__(self) -> None:
            super().__init__()
            self.depth = 0

        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            self.depth += 1

        def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
            self.depth -= 1

        def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
            if self.depth and m.matches(
                node, m.SimpleStatementLine(body=[m.Assign(targets=[m.AssignTarget()])])
            ):
                found.append(node)

    top.visit(Collect())
    return found


# ---------------------------------------------------------------------------------------------
# renamed locals
