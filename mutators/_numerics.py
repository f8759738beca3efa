"""Matchers shared by the numerics and metrics mutators (private: not a mutator module)."""

from __future__ import annotations

from typing import ClassVar

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.mutation import SiteContext

from ._patterns import callee_name, code, dotted_name, words

#: names under which a module function is called (``torch.exp(x)``), not a method (``x.exp()``)
MODULES = (
    "torch",
    "math",
    "np",
    "numpy",
    "F",
    "nn.functional",
    "torch.nn.functional",
    "functional",
    "torch.special",
)
#: the largest literal that reads as an epsilon rather than a value
_LARGEST_EPSILON = 1e-3
_SIMPLE = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float)


def subexpressions(node: cst.CSTNode) -> set[str]:
    """The source of every expression inside ``node`` (``x`` is in ``exp(-x.abs())``, ``t`` is
    not in ``torch.exp(z)``)."""
    found: set[str] = set()

    class Collect(cst.CSTVisitor):
        def on_visit(self, inner: cst.CSTNode) -> bool:
            if isinstance(inner, cst.BaseExpression):
                found.add(code(inner))
            return True

    node.visit(Collect())
    return found


def atom(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``expr`` wrapped in parentheses unless it already binds tighter than any operator."""
    if isinstance(expr, _SIMPLE) or expr.lpar:
        return expr
    return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def atom_code(expr: cst.BaseExpression) -> str:
    return code(atom(expr))


def is_module_call(call: cst.Call) -> bool:
    return not isinstance(call.func, cst.Attribute) or dotted_name(call.func.value) in MODULES


def operand(call: cst.Call) -> cst.BaseExpression | None:
    """What a unary tensor function acts on: ``x`` in ``torch.exp(x)`` and in ``x.exp()``."""
    if is_module_call(call):
        if call.args and call.args[0].keyword is None and call.args[0].star == "":
            return call.args[0].value
        return None
    assert isinstance(call.func, cst.Attribute)
    return call.func.value


def with_operand(call: cst.Call, value: cst.BaseExpression) -> cst.Call:
    """``call`` acting on ``value`` instead, in the same (function or method) form."""
    if is_module_call(call):
        args = list(call.args)
        args[0] = args[0].with_changes(value=value)
        return call.with_changes(args=args)
    assert isinstance(call.func, cst.Attribute)
    return call.with_changes(func=call.func.with_changes(value=atom(value)))


def is_exp(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and callee_name(node) == "exp" and operand(node) is not None


def total_count(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """``mask`` in ``mask.sum()`` or ``torch.sum(mask)``: a full reduction with no axis, the
    count of a mask. An axis-wise sum (``e.sum(dim, keepdim=True)``) normalizes something
    else (a softmax denominator) and is not a count."""
    if not isinstance(expr, cst.Call) or callee_name(expr) != "sum":
        return None
    if is_module_call(expr):
        return expr.args[0].value if len(expr.args) == 1 and expr.args[0].keyword is None else None
    return None if expr.args else operand(expr)


def count_divisor(node: cst.CSTNode) -> cst.BaseExpression | None:
    """The counted mask of ``total / mask.sum()``."""
    if not m.matches(node, m.BinaryOperation(operator=m.Divide())):
        return None
    assert isinstance(node, cst.BinaryOperation)
    return total_count(node.right)


def divide_by_numel(node: cst.BinaryOperation, counted: cst.BaseExpression) -> cst.BinaryOperation:
    numel = cst.Call(func=cst.Attribute(value=atom(counted), attr=cst.Name("numel")))
    return node.with_changes(right=numel)


def parameter_names(function: cst.FunctionDef) -> list[str]:
    return [p.name.value for p in (*function.params.posonly_params, *function.params.params)]


def insert_first(function: cst.FunctionDef, statement: str) -> cst.FunctionDef:
    """``function`` with ``statement`` as the first line of its body, after the docstring."""
    body = function.body
    assert isinstance(body, cst.IndentedBlock)
    lines = list(body.body)
    first = 1 if lines and _is_docstring(lines[0]) else 0
    lines.insert(first, cst.parse_statement(statement + "\n"))
    return function.with_changes(body=body.with_changes(body=lines))


def _is_docstring(statement: cst.BaseStatement) -> bool:
    return m.matches(
        statement, m.SimpleStatementLine(body=[m.Expr(value=m.SimpleString() | m.ConcatenatedString())])
    )


_LOSS_WORDS = frozenset(("loss", "losses", "nll", "ce", "entropy", "xent", "cross"))


def reads_as_loss(context: SiteContext, node: cst.CSTNode) -> bool:
    """Whether ``node`` computes a loss: the names it is stored under, its own names or the
    names of the functions around it say so."""
    names = {
        w
        for a in context.ancestors
        if isinstance(a, cst.Assign)
        for t in a.targets
        for w in words(code(t.target))
    }
    names |= words(code(node)) | {w for n in context.scope_names for w in words(n)}
    return bool(names & _LOSS_WORDS)


class DivideByNumel:
    """``total / mask.sum()`` becomes ``total / mask.numel()``: the mixin of the two mutators
    that count padding (or ignored targets) in a denominator, one for losses (``of_a_loss``),
    the other for every other masked mean."""

    node_types: ClassVar[tuple[type[cst.CSTNode], ...]] = (cst.BinaryOperation,)
    of_a_loss: bool

    def mutations(self, node: cst.CSTNode) -> tuple[cst.BinaryOperation, ...]:
        assert isinstance(node, cst.BinaryOperation)
        counted = count_divisor(node)
        if counted is None:
            return ()
        context: SiteContext = self.context  # type: ignore[attr-defined]  # a Mutator's
        if reads_as_loss(context, node) != self.of_a_loss:
            return ()
        return (divide_by_numel(node, counted),)


def is_epsilon(expr: cst.BaseExpression) -> bool:
    """A small positive literal (at most 1e-3) or a name that says epsilon (``eps``,
    ``self.norm_eps``, ``variance_epsilon``, ``finfo(...).tiny``; not ``steps`` or ``reps``)."""
    if isinstance(expr, cst.Float):  # no integer literal is small enough
        return 0 < float(expr.value) <= _LARGEST_EPSILON
    if isinstance(expr, cst.Attribute):
        expr = expr.attr
    if isinstance(expr, cst.Name):
        return any(word in ("eps", "epsilon", "tiny") for word in expr.value.lower().split("_"))
    return False
