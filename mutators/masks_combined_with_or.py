from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, Rewrite

from ._context import is_mask_like, mentions_word
from ._patterns import callee_name
from ._state import rename_call


class MasksCombinedWithOr(Mutator):
    """Two "may attend" masks are combined with OR instead of AND.

    A key is visible when it is in the past AND a real token. With OR, every real token is
    visible from every position (the future leaks) and every past position is visible even
    when it is padding. Shapes and dtypes are unchanged. The mistake comes from the "blocked"
    convention, where blocked masks are indeed OR-ed. Sites: ``a & b``, ``a &= b`` and
    ``logical_and`` whose operands read as masks (a name that says mask, causal, padding, keep...,
    a comparison, a negation or a mask builder); sets and bit flags are no masks.
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
    UNCHANGED = (
        "m = a | b\n",
        "n = a and b\n",
        "m = torch.logical_not(a)\n",
        "common = set(a) & set(b)\n",
        "low = flags & 1\n",
        "shared = seen & self.keys\n",
        "tp = (preds & (labels == 1)).sum()\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement | Rewrite]:
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitAnd):
            operands: tuple[cst.BaseExpression, ...] = (node.left, node.right)
            op = node.operator
            ored: cst.CSTNode = node.with_changes(
                operator=cst.BitOr(
                    whitespace_before=op.whitespace_before, whitespace_after=op.whitespace_after
                )
            )
        elif isinstance(node, cst.AugAssign) and isinstance(node.operator, cst.BitAndAssign):
            operands = (node.target, node.value)
            assign_op = node.operator
            ored = node.with_changes(
                operator=cst.BitOrAssign(
                    whitespace_before=assign_op.whitespace_before, whitespace_after=assign_op.whitespace_after
                )
            )
        elif isinstance(node, cst.Call) and callee_name(node) == "logical_and":
            operands = tuple(a.value for a in node.args)
            ored = rename_call(node, "logical_or")
        else:
            return ()
        # logical_and only ever combines boolean tensors; & also combines sets and bit flags
        logical = isinstance(node, cst.Call)
        if not logical and (not any(is_mask_like(o) for o in operands) or _not_a_mask(*operands)):
            return ()
        if not logical and not any(mentions_word(o, *_MASK_FRAGMENTS) for o in operands):
            return ()  # comparisons alone (a confusion matrix: preds & (labels == 1)) are no masks
        if logical or any(mentions_word(o, "causal", "pad", "tril", "triu") for o in operands):
            return (ored,)
        return (
            Rewrite(
                ored, "combine two attention masks with OR instead of AND: either one lets a key through"
            ),
        )


#: fragments of the names of masks, or of what a mask is built from
_MASK_FRAGMENTS = ("mask", "causal", "pad", "keep", "allow", "valid", "visible", "attend", "tril", "triu")


def _not_a_mask(*operands: cst.BaseExpression) -> bool:
    """An integer, a set or a dict's keys: ``&`` on those is no mask combination."""
    for operand in operands:
        if isinstance(operand, (cst.Integer, cst.Set, cst.SetComp)):
            return True
        if isinstance(operand, cst.Call) and callee_name(operand) in ("set", "frozenset", "keys", "items"):
            return True
    return False
