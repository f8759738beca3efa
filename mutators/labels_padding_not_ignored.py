from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import masked_fill_args
from ._patterns import callee_name, int_literal, statement_call


def _is_ignore(expr: cst.BaseExpression) -> bool:
    """``ignore_index``, ``IGNORE_INDEX``, ``ignore_idx`` or a literal -100."""
    if isinstance(expr, cst.Name):
        return expr.value.lower() in ("ignore_index", "ignore_idx")
    return int_literal(expr) == -100


class LabelsPaddingNotIgnored(Mutator):
    """The labels keep the padding tokens: the padding positions are never set to ``ignore_index``.

    The labels of a padded batch must mark the padding as "no target"; left as the pad token
    id, every padded position is a target the model is trained to predict. The loss falls
    (padding is easy to predict), generation learns to emit padding, and the loss depends on how
    much padding a batch has. Sites: the statement that writes the ignore label into the labels
    (``labels[mask == 0] = -100``, ``labels.masked_fill_(..., ignore_index)``) is removed, and a
    ``masked_fill``/``where`` that builds them keeps its input unchanged.
    """

    bug_id = "labels_padding_not_ignored"
    components = ("lm_loss",)
    category = Category.TARGET
    layer = Layer.TARGET
    description = "padding positions are left in the labels instead of being set to ignore_index"
    symptom = "the loss falls with more padding; the model learns to generate pad tokens"
    hint = "print the labels of a padded row: what stands at the padding?"
    fix = "labels[attention_mask == 0] = ignore_index"
    node_types = (cst.SimpleStatementLine, cst.Call)
    EXAMPLES = (
        Example(
            "labels = input_ids.clone()\nlabels[attention_mask == 0] = ignore_index\n",
            "labels = input_ids.clone()\n",
        ),
        Example(
            "labels = input_ids.masked_fill(attention_mask == 0, -100)\n",
            "labels = input_ids\n",
        ),
        Example(
            "labels = torch.where(attention_mask.bool(), input_ids, IGNORE_INDEX)\n",
            "labels = input_ids\n",
        ),
    )
    UNCHANGED = ("x[mask] = 0\n", "s = s.masked_fill(~m, float('-inf'))\n", "y = torch.where(c, a, b)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.SimpleStatementLine):
            if len(node.body) != 1:
                return ()
            small = node.body[0]
            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                if isinstance(small.targets[0].target, cst.Subscript) and _is_ignore(small.value):
                    return (cst.RemovalSentinel.REMOVE,)
            call = statement_call(node)
            if call is not None and callee_name(call) == "masked_fill_":
                found = masked_fill_args(call)
                if found is not None and _is_ignore(found[1][1].value):
                    return (cst.RemovalSentinel.REMOVE,)
            return ()
        assert isinstance(node, cst.Call)
        name = callee_name(node)
        if name == "masked_fill" and isinstance(node.func, cst.Attribute):
            found = masked_fill_args(node)
            if found is not None and _is_ignore(found[1][1].value):
                return (node.func.value,)
        if name == "where" and len(node.args) == 3 and _is_ignore(node.args[2].value):
            return (node.args[1].value,)
        return ()
