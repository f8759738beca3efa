"""Small libcst matchers shared by the built-in mutators."""

from __future__ import annotations

import re
from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def code(node: cst.CSTNode) -> str:
    """The source of ``node``."""
    return cst.Module(body=[]).code_for_node(node)


def words(name: str) -> set[str]:
    """The lowercase words of an identifier or expression: ``{"attn", "drop"}`` for ``attn_drop``
    and ``AttnDrop``, ``{"nll", "loss"}`` for ``F.nll_loss``."""
    return {w.lower() for w in _WORD.findall(name)}


def callee_name(call: cst.Call) -> str | None:
    """The last name of what is called: ``softmax`` for ``F.softmax(...)`` and ``x.softmax(...)``."""
    func = call.func
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return None


def dotted_name(expr: cst.BaseExpression) -> str | None:
    """``torch.nn.functional.softmax`` for that attribute chain; ``None`` for anything else."""
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        head = dotted_name(expr.value)
        return None if head is None else f"{head}.{expr.attr.value}"
    return None


def is_method_call(call: cst.Call, *, on_modules: tuple[str, ...]) -> bool:
    """True for ``x.name(...)`` where ``x`` is not one of the module aliases ``on_modules``."""
    func = call.func
    return isinstance(func, cst.Attribute) and dotted_name(func.value) not in on_modules


def int_literal(expr: cst.BaseExpression) -> int | None:
    """The value of ``3`` or ``-1``; ``None`` for any other expression."""
    if isinstance(expr, cst.Integer):
        return int(expr.value)
    if m.matches(expr, m.UnaryOperation(operator=m.Minus(), expression=m.Integer())):
        assert isinstance(expr, cst.UnaryOperation) and isinstance(expr.expression, cst.Integer)
        return -int(expr.expression.value)
    return None


def int_node(value: int) -> cst.BaseExpression:
    if value < 0:
        return cst.UnaryOperation(operator=cst.Minus(), expression=cst.Integer(str(-value)))
    return cst.Integer(str(value))


def argument(call: cst.Call, *, keyword: str, position: int | None) -> tuple[int, cst.Arg] | None:
    """The argument passed as ``keyword=`` or at ``position``, with its index in ``call.args``."""
    for i, arg in enumerate(call.args):
        if arg.keyword is not None and arg.keyword.value == keyword:
            return i, arg
    if position is not None and position < len(call.args):
        arg = call.args[position]
        if arg.keyword is None and arg.star == "":
            return position, arg
    return None


def replace_arg(call: cst.Call, index: int, value: cst.BaseExpression) -> cst.Call:
    args = list(call.args)
    args[index] = args[index].with_changes(value=value)
    return call.with_changes(args=args)


def is_sqrt_like(expr: cst.BaseExpression) -> bool:
    """``math.sqrt(d)``, ``torch.sqrt(t)``, ``sqrt(d)`` or ``d ** 0.5``."""
    if isinstance(expr, cst.Call):
        return callee_name(expr) == "sqrt"
    return m.matches(expr, m.BinaryOperation(operator=m.Power(), right=m.Float(value="0.5")))


def statement_call(statement: cst.BaseStatement) -> cst.Call | None:
    """The call of an expression statement such as ``optimizer.step()``."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
        return small.value
    return None


def single_assignment(statement: cst.CSTNode) -> tuple[str, cst.BaseExpression] | None:
    """``(name, value)`` of a statement line ``name = value`` (one target, one small statement)."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
    ):
        return small.targets[0].target.value, small.value
    if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.value is not None:
        return small.target.value, small.value
    return None


def axis_argument(call: cst.Call, *, modules: tuple[str, ...]) -> tuple[int, int] | None:
    """``(index in call.args, value)`` of a literal axis argument: ``dim=`` or the argument
    after the tensor (first for ``x.f(-1)``, second for ``torch.f(x, -1)``)."""
    method = isinstance(call.func, cst.Attribute) and dotted_name(call.func.value) not in modules
    found = argument(call, keyword="dim", position=0 if method else 1)
    if found is None:
        return None
    value = int_literal(found[1].value)
    return None if value is None else (found[0], value)


def neighbour_axis(dim: int) -> int:
    """The axis a slip of the finger lands on: the one before, or axis 1 for axis 0."""
    return dim - 1 if dim != 0 else 1


def with_leading_lines(statement: cst.BaseStatement, lines: Sequence[cst.EmptyLine]) -> cst.BaseStatement:
    """``statement`` with ``lines`` (comments, blank lines) before its own: what a statement that
    takes the place of a removed block keeps of that block."""
    own: Sequence[cst.EmptyLine] = getattr(statement, "leading_lines", ())
    return statement.with_changes(leading_lines=[*lines, *own])
