from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._patterns import callee_name
from pytest_mlbugs.mutators._state import rename_call


class MasksCombinedWithOr(Mutator):
    """Two "may attend" masks are combined with OR instead of AND.

    A key is visible when it is in the past AND a real token. With OR, every real token is
    visible from every position (the future leaks) and every past position is visible even
    when it is padding. Shapes and dtypes are unchanged. The mistake comes from the "blocked"
    convention, where blocked masks are indeed OR-ed. Sites: ``a & b``, ``a &= b`` and
    ``logical_and``.
    """

    bug_id = "masks_combined_with_or"
    components = ("masks",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "combine the causal and padding masks with OR instead of AND"
    symptom = "training loss suspiciously low (the future leaks) and the model attends to padding"
    hint = "a key is allowed only when every mask allows it: check the combined mask of a padded row"
    fix = "combined = causal & padding (True = may attend)"
    node_types = (cst.BinaryOperation, cst.AugAssign, cst.Call)
    EXAMPLES = (
        Example("m = causal & padding\n", "m = causal | padding\n"),
        Example("m &= padding\n", "m |= padding\n"),
        Example("m = torch.logical_and(a, b)\n", "m = torch.logical_or(a, b)\n"),
    )
    UNCHANGED = ("m = a | b\n", "n = a and b\n", "m = torch.logical_not(a)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitAnd):
            op = node.operator
            return (
                node.with_changes(
                    operator=cst.BitOr(
                        whitespace_before=op.whitespace_before, whitespace_after=op.whitespace_after
                    )
                ),
            )
        if isinstance(node, cst.AugAssign) and isinstance(node.operator, cst.BitAndAssign):
            assign_op = node.operator
            return (
                node.with_changes(
                    operator=cst.BitOrAssign(
                        whitespace_before=assign_op.whitespace_before,
                        whitespace_after=assign_op.whitespace_after,
                    )
                ),
            )
        if isinstance(node, cst.Call) and callee_name(node) == "logical_and":
            return (rename_call(node, "logical_or"),)
        return ()
