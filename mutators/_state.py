"""libcst matchers shared by the positional-encoding, mask and KV-cache mutators."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from ._patterns import argument, callee_name, dotted_name, int_literal, int_node

#: torch functions that create a tensor on the default device unless told otherwise
FACTORIES = (
    "zeros",
    "ones",
    "empty",
    "full",
    "arange",
    "eye",
    "rand",
    "randn",
    "randint",
    "linspace",
    "tensor",
    "zeros_like",
    "ones_like",
    "empty_like",
    "full_like",
)


def is_torch_call(call: cst.Call, names: Sequence[str]) -> bool:
    """``torch.<name>(...)`` (a module function, not a method) for one of ``names``."""
    func = call.func
    return isinstance(func, cst.Attribute) and dotted_name(func.value) == "torch" and func.attr.value in names


def keyword(call: cst.Call, name: str) -> tuple[int, cst.Arg] | None:
    return argument(call, keyword=name, position=None)


def without_arg(call: cst.Call, index: int) -> cst.Call:
    """``call`` without its argument at ``index``, the commas tidied."""
    args = [a for i, a in enumerate(call.args) if i != index]
    if args:
        args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return call.with_changes(args=args)


def with_keyword(call: cst.Call, name: str, value: cst.BaseExpression) -> cst.Call:
    """``call`` with ``name=value`` appended."""
    args = list(call.args)
    if args:
        args[-1] = args[-1].with_changes(
            comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
            if args[-1].comma == cst.MaybeSentinel.DEFAULT
            else args[-1].comma
        )
    new = cst.Arg(
        value=value,
        keyword=cst.Name(name),
        equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
    )
    return call.with_changes(args=[*args, new])


def rename_call(call: cst.Call, name: str) -> cst.Call:
    func = call.func
    if isinstance(func, cst.Attribute):
        return call.with_changes(func=func.with_changes(attr=cst.Name(name)))
    return call.with_changes(func=cst.Name(name))


def string_value(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.SimpleString):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    return None


def register_buffer_parts(
    statement: cst.CSTNode,
) -> tuple[cst.BaseExpression, str, cst.BaseExpression] | None:
    """``(owner, name, value)`` of a statement ``owner.register_buffer("name", value, ...)``."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if not (isinstance(small, cst.Expr) and isinstance(small.value, cst.Call)):
        return None
    call = small.value
    if callee_name(call) != "register_buffer" or not isinstance(call.func, cst.Attribute):
        return None
    name_arg = argument(call, keyword="name", position=0)
    value_arg = argument(call, keyword="tensor", position=1)
    if name_arg is None or value_arg is None:
        return None
    name = string_value(name_arg[1].value)
    if name is None or not name.isidentifier():
        return None
    return call.func.value, name, value_arg[1].value


def attribute_assignment(
    statement: cst.SimpleStatementLine, owner: cst.BaseExpression, name: str, value: cst.BaseExpression
) -> cst.SimpleStatementLine:
    """``owner.name = value`` in place of ``statement`` (its comments kept). A value that spans
    lines was inside the call's parentheses; on its own it needs a pair of its own."""
    if "\n" in cst.Module(body=[]).code_for_node(value) and not value.lpar:
        value = value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    target = cst.AssignTarget(cst.Attribute(value=owner, attr=cst.Name(name)))
    return statement.with_changes(body=[cst.Assign(targets=[target], value=value)])


def index_arg(call: cst.Call) -> tuple[int, int] | None:
    """``(index, value)`` of the single literal argument of ``x.size(k)``."""
    if callee_name(call) != "size" or len(call.args) != 1 or not isinstance(call.func, cst.Attribute):
        return None
    value = int_literal(call.args[0].value)
    return None if value is None else (0, value)


def axis_length_with_axis(expr: cst.BaseExpression, axis: int) -> cst.BaseExpression | None:
    """``x.size(1)`` -> ``x.size(axis)``, ``x.shape[1]`` -> ``x.shape[axis]``; ``None`` when
    ``expr`` is neither form with a literal axis."""
    if isinstance(expr, cst.Call) and index_arg(expr) is not None:
        return expr.with_changes(args=[expr.args[0].with_changes(value=int_node(axis))])
    if (
        isinstance(expr, cst.Subscript)
        and m.matches(expr.value, m.Attribute(attr=m.Name("shape")))
        and len(expr.slice) == 1
        and isinstance(expr.slice[0].slice, cst.Index)
        and int_literal(expr.slice[0].slice.value) is not None
    ):
        element = expr.slice[0]
        return expr.with_changes(slice=[element.with_changes(slice=cst.Index(int_node(axis)))])
    return None


def literal_axis(expr: cst.BaseExpression) -> int | None:
    """The literal axis of ``x.size(k)`` or ``x.shape[k]``."""
    if isinstance(expr, cst.Call):
        found = index_arg(expr)
        return None if found is None else found[1]
    if (
        isinstance(expr, cst.Subscript)
        and m.matches(expr.value, m.Attribute(attr=m.Name("shape")))
        and len(expr.slice) == 1
        and isinstance(expr.slice[0].slice, cst.Index)
    ):
        return int_literal(expr.slice[0].slice.value)
    return None


def mentions(node: cst.CSTNode, name: str) -> bool:
    """Whether the dotted ``name`` (``self.current_length``) occurs anywhere inside ``node``."""
    found = False

    class _Finder(cst.CSTVisitor):
        def visit_Attribute(self, attribute: cst.Attribute) -> bool:
            nonlocal found
            if dotted_name(attribute) == name:
                found = True
            return not found

        def visit_Name(self, node_name: cst.Name) -> bool:
            nonlocal found
            if node_name.value == name:
                found = True
            return False

    node.visit(_Finder())
    return found


def _assignment_target(statement: cst.BaseStatement) -> cst.BaseExpression | None:
    """The single target of ``target = ...`` or ``target += ...``."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if isinstance(small, cst.Assign) and len(small.targets) == 1:
        return small.targets[0].target
    if isinstance(small, cst.AugAssign):
        return small.target
    return None


def assigned_attribute(statement: cst.BaseStatement) -> str | None:
    """The dotted name ``self.x`` assigned by ``self.x = ...`` or ``self.x += ...``."""
    target = _assignment_target(statement)
    return dotted_name(target) if isinstance(target, cst.Attribute) else None


def subscript_assignment_target(statement: cst.BaseStatement) -> cst.Subscript | None:
    """The target of ``self.buffer[...] = value`` (an attribute's items written in place)."""
    target = _assignment_target(statement)
    if isinstance(target, cst.Subscript) and isinstance(target.value, cst.Attribute):
        return target
    return None


def changes_state(statement: cst.BaseStatement) -> bool:
    """An assignment to an attribute or into an attribute's items: ``self.n = ...``,
    ``self.cache[...] = ...``."""
    return assigned_attribute(statement) is not None or subscript_assignment_target(statement) is not None


def is_raise_guard(statement: cst.BaseStatement) -> bool:
    """``if <condition>: raise ...`` with nothing else in it and no ``else``."""
    if not isinstance(statement, cst.If) or statement.orelse is not None:
        return False
    body = statement.body
    if not isinstance(body, cst.IndentedBlock) or len(body.body) != 1:
        return False
    only = body.body[0]
    return (
        isinstance(only, cst.SimpleStatementLine)
        and len(only.body) == 1
        and isinstance(only.body[0], cst.Raise)
        and only.body[0].exc is not None
    )


def moved(statements: Sequence[cst.BaseStatement], source: int, destination: int) -> list[cst.BaseStatement]:
    """``statements`` with the one at ``source`` moved to sit before index ``destination``
    (indices into the original list), keeping its comments with it."""
    items = list(statements)
    item = items.pop(source)
    if destination > source:
        destination -= 1
    items.insert(destination, item)
    return items
