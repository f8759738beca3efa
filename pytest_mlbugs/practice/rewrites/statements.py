"""Independent adjacent assignments swapped, and a denominator moved into a local of its own."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.practice.rewrites.chance import fires
from pytest_mlbugs.practice.rewrites.syntax import dotted, identifiers
from pytest_mlbugs.seeds import derive_seed

#: how often a rule fires at a site, in 1/256ths
SWAP_RATE = 128
EXTRACT_RATE = 128

#: names for an extracted denominator; none is spelled in a reference
DENOMINATOR_NAMES = ("denom", "divisor", "denominator", "norm_const")

#: methods and functions that neither consume randomness nor change state
_PURE_CALLS = frozenset(
    {
        "math.sqrt", "math.log", "math.exp", "torch.matmul", "torch.exp", "torch.log", "torch.sqrt",
        "torch.arange", "torch.zeros", "torch.ones", "torch.tensor", "torch.where", "float", "int",
        "len", "abs", "min", "max", "transpose", "view", "reshape", "contiguous", "sum", "mean",
        "amax", "size", "unsqueeze", "squeeze", "masked_fill", "softmax", "clone", "clamp",
        "self.q_proj", "self.k_proj", "self.v_proj", "self.out_proj", "self._split_heads",
    }
)  # fmt: skip


class _Reads(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.pure = True

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Call(self, node: cst.Call) -> None:
        name = dotted(node.func)
        method = node.func.attr.value if isinstance(node.func, cst.Attribute) else None
        if name not in _PURE_CALLS and (method is None or method not in _PURE_CALLS):
            self.pure = False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        self.pure = False
        return False

    def visit_NamedExpr(self, node: cst.NamedExpr) -> bool:
        self.pure = False
        return False


def _simple_assignment(statement: cst.BaseStatement) -> tuple[str, _Reads] | None:
    """``name = <pure expression>``: its target and what it reads, else ``None``."""
    if not m.matches(statement, m.SimpleStatementLine(body=[m.Assign(targets=[m.AssignTarget(m.Name())])])):
        return None
    assert isinstance(statement, cst.SimpleStatementLine)
    assign = statement.body[0]
    assert isinstance(assign, cst.Assign)
    target = assign.targets[0].target
    assert isinstance(target, cst.Name)
    reads = _Reads()
    assign.value.visit(reads)
    return (target.value, reads) if reads.pure else None


class SwapIndependentAssignments(cst.CSTTransformer):
    def __init__(self, seed: int, module: cst.Module) -> None:
        super().__init__()
        self.seed = seed
        self.module = module

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        body = list(updated_node.body)
        index = 0
        while index + 1 < len(body):
            first, second = body[index], body[index + 1]
            a, b = _simple_assignment(first), _simple_assignment(second)
            if (
                a is None
                or b is None
                or not isinstance(first, cst.SimpleStatementLine)
                or not isinstance(second, cst.SimpleStatementLine)
            ):
                index += 1
                continue
            independent = (
                a[0] != b[0]
                and a[0] not in b[1].names
                and b[0] not in a[1].names
                and not second.leading_lines  # a blank line separates steps: keep it
            )
            text = self.module.code_for_node(first) + self.module.code_for_node(second)
            if independent and fires(self.seed, "swap", text, SWAP_RATE):
                body[index] = second.with_changes(leading_lines=first.leading_lines)
                body[index + 1] = first.with_changes(leading_lines=())
                index += 2
            else:
                index += 1
        return updated_node.with_changes(body=body)


class ExtractDenominators(cst.CSTTransformer):
    """``x = a / f(b)`` -> ``denom = f(b)`` then ``x = a / denom``, for a pure call ``f``.

    Computing the pure denominator before the numerator changes nothing observable.
    """

    def __init__(self, seed: int, module: cst.Module) -> None:
        super().__init__()
        self.seed = seed
        self.module = module
        self.taken = identifiers(module)

    def _extracted(
        self, statement: cst.BaseStatement
    ) -> tuple[cst.SimpleStatementLine, cst.SimpleStatementLine] | None:
        if not isinstance(statement, cst.SimpleStatementLine) or _simple_assignment(statement) is None:
            return None
        assign = statement.body[0]
        assert isinstance(assign, cst.Assign)
        value = assign.value
        if not (
            isinstance(value, cst.BinaryOperation)
            and isinstance(value.operator, cst.Divide)
            and isinstance(value.right, cst.Call)
            and not value.right.lpar
        ):
            return None
        text = self.module.code_for_node(statement)
        if not fires(self.seed, "extract", text, EXTRACT_RATE):
            return None
        free = [name for name in DENOMINATOR_NAMES if name not in self.taken]
        if not free:
            return None
        name = free[derive_seed(self.seed, "extract-name", text) % len(free)]
        self.taken.add(name)
        first = cst.SimpleStatementLine(
            body=[cst.Assign(targets=[cst.AssignTarget(cst.Name(name))], value=value.right)],
            leading_lines=statement.leading_lines,
        )
        second = statement.with_changes(
            body=[assign.with_changes(value=value.with_changes(right=cst.Name(name)))], leading_lines=()
        )
        return first, second

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        body: list[cst.BaseStatement] = []
        for statement in updated_node.body:
            extracted = self._extracted(statement)
            body.extend(extracted if extracted is not None else (statement,))
        return updated_node.with_changes(body=body)


# ---------------------------------------------------------------------------------------------
# helper functions inlined or extracted
