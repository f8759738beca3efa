"""Small syntax helpers shared by the surface rules."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m


def identifiers(source: str | cst.Module) -> set[str]:
    """Every name spelled in ``source``."""
    module = cst.parse_module(source) if isinstance(source, str) else source
    found: set[str] = set()

    class Collect(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            found.add(node.value)

    module.visit(Collect())
    return found


def is_docstring(statement: cst.CSTNode) -> bool:
    return m.matches(
        statement,
        m.SimpleStatementLine(body=[m.Expr(value=m.SimpleString() | m.ConcatenatedString())]),
    )


def needs_parens(node: cst.BaseExpression) -> bool:
    return not isinstance(
        node, (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float)
    ) and not (node.lpar and node.rpar)


def parenthesized(node: cst.BaseExpression) -> cst.BaseExpression:
    if needs_parens(node):
        return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return node


def dotted(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        inner = dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr.value}"
    return None
