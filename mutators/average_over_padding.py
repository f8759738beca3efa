from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._numerics import code, is_module_call, operand
from ._patterns import callee_name

_ZERO = m.Integer("0") | m.Float("0.0") | m.Float("0.")


class AverageOverPadding(Mutator):
    """The mask is no longer applied to the values: padded (or ignored) positions enter the sum.

    ``torch.where(mask, values, 0)`` (or ``values.masked_fill(~mask, 0)``) is what keeps the
    padding out of an average; without it whatever sits in the padded positions (pad-token
    losses, zeros, garbage activations) is averaged in. Padding then dominates short
    sequences, and a loss can be lowered by predicting the pad token. Sites are a ``where``
    whose fallback is zero and a ``masked_fill`` with zero; in a loss that zeroes the ignored
    targets before a ``gather``, dropping that mask crashes on the ``ignore_index``, which is
    the same bug made loud.
    """

    bug_id = "average_over_padding"
    components = ("metrics", "numerics", "lm_loss")
    category = Category.EVALUATION
    layer = Layer.EVALUATION
    description = "padding positions are averaged in: the mask is not applied to the values"
    symptom = "loss or metric moves with the amount of padding; the model learns to predict padding"
    hint = "set the padded values to a huge number and see whether the average moves"
    fix = "zero the padded values (torch.where(mask, values, 0)) and divide by mask.sum()"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("s = torch.where(mask, v, torch.zeros_like(v)).sum()\n", "s = v.sum()\n"),
        Example("s = torch.where(keep, loss, 0.0)\n", "s = loss\n"),
        Example("s = v.masked_fill(~mask, 0).sum()\n", "s = v.sum()\n"),
    )
    UNCHANGED = ("s = torch.where(mask, v, float('-inf'))\n", "s = v.masked_fill(~mask, -1e9)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        name = callee_name(node)
        if name == "where" and is_module_call(node) and len(node.args) == 3:
            kept, fallback = node.args[1].value, node.args[2].value
            return (kept,) if _is_zero(fallback) else ()
        if name in ("masked_fill", "masked_fill_") and not is_module_call(node) and len(node.args) == 2:
            values = operand(node)
            return (values,) if values is not None and _is_zero(node.args[1].value) else ()
        return ()


def _is_zero(expr: cst.BaseExpression) -> bool:
    if m.matches(expr, _ZERO):
        return True
    return (isinstance(expr, cst.Call) and callee_name(expr) in ("zeros_like", "zeros", "new_zeros")) or code(
        expr
    ) in ("0", "0.0")
