from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._numerics import is_module_call, operand
from ._patterns import argument, callee_name


class DivisionByZeroCount(Mutator):
    """A count that can be zero loses its guard in a denominator.

    Per-class precision divides by how often the class was predicted, recall by how often it
    occurs; a class that is labelled but never predicted (common early in training and for
    rare classes) makes the first 0/0 = NaN, and one NaN class turns a macro average into
    NaN. The ``clamp(min=1)`` (or ``max(count, 1)``) that maps 0/0 to 0 looks like noise and
    gets removed. The site is a division whose divisor is clamped from below by a positive
    constant; the divisor loses the clamp.
    """

    bug_id = "division_by_zero_count"
    components = ("metrics",)
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "the clamp(min=1) guard of a count in a denominator is removed"
    symptom = "metric is NaN for some epochs, typically early or on small validation sets"
    hint = "look for a class (or batch) whose count is zero in the epoch where the NaN appears"
    fix = "divide by count.clamp(min=1) (or define the 0/0 case explicitly)"
    loud = True
    node_types = (cst.BinaryOperation,)
    EXAMPLES = (
        Example("p = tp / predicted.clamp(min=1)\n", "p = tp / predicted\n"),
        Example("p = tp / torch.clamp(n, min=1e-12)\n", "p = tp / n\n"),
        Example("p = tp / max(n, 1)\n", "p = tp / n\n"),
        Example("p = tp / (a + b).clamp_min(1)\n", "p = tp / (a + b)\n"),
    )
    UNCHANGED = ("p = tp / n\n", "p = tp / x.clamp(max=1)\n", "p = tp / x.clamp(min=-1)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.BinaryOperation)
        if not isinstance(node.operator, cst.Divide):
            return ()
        guarded = _guarded_count(node.right)
        return () if guarded is None else (node.with_changes(right=guarded),)


def _guarded_count(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """``n`` in ``n.clamp(min=1)``, ``n.clamp_min(1)``, ``torch.clamp(n, min=1)``, ``max(n, 1)``."""
    if not isinstance(expr, cst.Call):
        return None
    name = callee_name(expr)
    if name == "max" and isinstance(expr.func, cst.Name) and len(expr.args) == 2:
        first, second = expr.args[0].value, expr.args[1].value
        if _positive(second):
            return first
        return second if _positive(first) else None
    if name not in ("clamp", "clamp_min", "clip"):
        return None
    offset = 1 if is_module_call(expr) else 0
    found = argument(expr, keyword="min", position=offset)
    if found is None or not _positive(found[1].value):
        return None
    return operand(expr)


def _positive(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Integer | cst.Float):
        return float(expr.evaluated_value) > 0
    return False
