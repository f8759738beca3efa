"""Comments and docstrings removed, and equivalent forms swapped (``.mT``/``transpose``, ``@``/
``torch.matmul``, method/function softmax)."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.practice.rewrites.chance import fires
from pytest_mlbugs.practice.rewrites.syntax import is_docstring, parenthesized

#: how often a form is swapped at a site, in 1/256ths
FORM_RATE = 128


class StripComments(cst.CSTTransformer):
    def __init__(self, *, keep_docstrings: bool) -> None:
        super().__init__()
        self.keep_docstrings = keep_docstrings

    def leave_EmptyLine(
        self, original_node: cst.EmptyLine, updated_node: cst.EmptyLine
    ) -> cst.EmptyLine | cst.RemovalSentinel:
        return cst.RemoveFromParent() if updated_node.comment is not None else updated_node

    def leave_TrailingWhitespace(
        self, original_node: cst.TrailingWhitespace, updated_node: cst.TrailingWhitespace
    ) -> cst.TrailingWhitespace:
        if updated_node.comment is None:
            return updated_node
        return updated_node.with_changes(comment=None, whitespace=cst.SimpleWhitespace(""))

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        body = list(updated_node.body)
        if body and is_docstring(body[0]):  # the exercise writes its own header
            body = body[1:]
            if body:
                body[0] = body[0].with_changes(leading_lines=())
        return updated_node.with_changes(body=body, header=())

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        body = list(updated_node.body)
        if self.keep_docstrings or not body or not is_docstring(body[0]):
            return updated_node
        rest = body[1:] or [cst.SimpleStatementLine([cst.Pass()])]
        rest[0] = rest[0].with_changes(leading_lines=())
        return updated_node.with_changes(body=rest)


# ---------------------------------------------------------------------------------------------
# equivalent forms


def _int_value(node: cst.BaseExpression) -> int | None:
    if isinstance(node, cst.Integer):
        return int(node.value)
    if m.matches(node, m.UnaryOperation(operator=m.Minus(), expression=m.Integer())):
        assert isinstance(node, cst.UnaryOperation) and isinstance(node.expression, cst.Integer)
        return -int(node.expression.value)
    return None


def _is_last_two_axes(args: Sequence[cst.Arg]) -> bool:
    if len(args) != 2 or any(a.keyword is not None or a.star for a in args):
        return False
    return {_int_value(args[0].value), _int_value(args[1].value)} == {-2, -1}


class EquivalentForms(cst.CSTTransformer):
    def __init__(self, seed: int, module: cst.Module) -> None:
        super().__init__()
        self.seed = seed
        self.module = module
        self.torch_imported = "torch" in _imported_names(module)

    def _fires(self, rule: str, node: cst.CSTNode) -> bool:
        return fires(self.seed, rule, self.module.code_for_node(node), FORM_RATE)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = updated_node.func
        args = updated_node.args
        # x.transpose(-2, -1) -> x.mT (a batch of matrices, each transposed)
        if (
            m.matches(func, m.Attribute(attr=m.Name("transpose")))
            and _is_last_two_axes(args)
            and self._fires("mT", original_node)
        ):
            assert isinstance(func, cst.Attribute)
            return cst.Attribute(value=parenthesized(func.value), attr=cst.Name("mT"))
        # torch.matmul(a, b) -> a @ b
        if (
            m.matches(func, m.Attribute(value=m.Name("torch"), attr=m.Name("matmul")))
            and len(args) == 2
            and all(a.keyword is None and not a.star for a in args)
            and self._fires("matmul", original_node)
        ):
            product = cst.BinaryOperation(
                left=parenthesized(args[0].value),
                operator=cst.MatrixMultiply(),
                right=parenthesized(args[1].value),
            )
            # a call binds tighter than any operator: keep the product in parentheses, except
            # where it stands alone (see _drop_redundant_parens)
            return product.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        # F.softmax(x, dim=d) -> x.softmax(dim=d)
        if (
            m.matches(func, m.Attribute(value=m.Name("F"), attr=m.Name("softmax") | m.Name("log_softmax")))
            and len(args) == 2
            and args[0].keyword is None
            and not args[0].star
            and args[1].keyword is not None
            and args[1].keyword.value == "dim"
            and self._fires("softmax-method", original_node)
        ):
            assert isinstance(func, cst.Attribute)
            return cst.Call(
                func=cst.Attribute(value=parenthesized(args[0].value), attr=func.attr),
                args=[args[1]],
                lpar=updated_node.lpar,
                rpar=updated_node.rpar,
            )
        return updated_node

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        return updated_node.with_changes(value=_drop_redundant_parens(updated_node.value))

    def leave_Return(self, original_node: cst.Return, updated_node: cst.Return) -> cst.Return:
        if updated_node.value is None:
            return updated_node
        return updated_node.with_changes(value=_drop_redundant_parens(updated_node.value))

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        return updated_node.with_changes(value=_drop_redundant_parens(updated_node.value))

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        # x.mT -> x.transpose(-2, -1), the other way round
        if updated_node.attr.value == "mT" and self._fires("transpose", original_node):
            return cst.Call(
                func=cst.Attribute(value=updated_node.value, attr=cst.Name("transpose")),
                args=[cst.Arg(cst.parse_expression("-2")), cst.Arg(cst.parse_expression("-1"))],
            )
        return updated_node

    def leave_BinaryOperation(
        self, original_node: cst.BinaryOperation, updated_node: cst.BinaryOperation
    ) -> cst.BaseExpression:
        # a @ b -> torch.matmul(a, b)
        if (
            isinstance(updated_node.operator, cst.MatrixMultiply)
            and self.torch_imported
            and self._fires("matmul-call", original_node)
        ):
            return cst.Call(
                func=cst.parse_expression("torch.matmul"),
                args=[
                    cst.Arg(updated_node.left.with_changes(lpar=[], rpar=[])),
                    cst.Arg(updated_node.right.with_changes(lpar=[], rpar=[])),
                ],
                lpar=updated_node.lpar,
                rpar=updated_node.rpar,
            )
        return updated_node


def _drop_redundant_parens(node: cst.BaseExpression) -> cst.BaseExpression:
    """``x = (a @ b)`` reads as ``x = a @ b``: a whole value needs no parentheses."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.MatrixMultiply):
        if len(node.lpar) == 1 and len(node.rpar) == 1:
            return node.with_changes(lpar=[], rpar=[])
    return node


def _imported_names(module: cst.Module) -> set[str]:
    names: set[str] = set()
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    bound = alias.asname.name if alias.asname else alias.name
                    if isinstance(bound, cst.Name):
                        names.add(bound.value)
                    elif isinstance(bound, cst.Attribute):
                        names.add(cst.Module([]).code_for_node(bound).split(".")[0])
    return names


# ---------------------------------------------------------------------------------------------
# independent statements
