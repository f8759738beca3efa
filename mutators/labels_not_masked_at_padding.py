from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import is_ignore_label, method_call, named, removed_if, single_assign
from ._patterns import argument, callee_name


def _masks_labels(statement: cst.BaseStatement) -> bool:
    """``labels[mask == 0] = -100``: the padding's labels set to the ignored index."""
    assigned = single_assign(statement)
    if assigned is None:
        return False
    target, value = assigned
    return isinstance(target, cst.Subscript) and named(target.value, "label") and is_ignore_label(value)


class LabelsNotMaskedAtPadding(Mutator):
    """The labels keep the pad token where the input was padded.

    Language-model labels are the input ids with -100 wherever the loss must not look; at the
    padding they must be -100. Left as the pad id, the loss trains the model to predict
    padding after every short sequence: the loss is lower than it should be (padding is easy
    to predict), batches with more padding dominate, and generation may emit pad tokens.
    Sites: ``labels = ids.masked_fill(mask, -100)`` (the fill dropped: ``ids.clone()``) and
    ``labels[mask] = -100`` statements (removed).
    """

    bug_id = "labels_not_masked_at_padding"
    components = ("collate",)
    category = Category.TARGET
    layer = Layer.TARGET
    description = "labels are not set to -100 on the padding: the loss trains on pad tokens"
    symptom = "the loss is suspiciously low on padded batches; generations end in pad tokens"
    hint = "print labels[attention_mask == 0]: is every entry -100?"
    fix = "labels = input_ids.masked_fill(attention_mask == 0, -100)"
    node_types = (cst.Call, cst.SimpleStatementLine)
    EXAMPLES = (
        Example(
            "labels = input_ids.masked_fill(~real, IGNORE_INDEX)\n",
            "labels = input_ids.clone()\n",
        ),
        Example(
            "def collate(batch, pad_token_id):\n"
            "    labels = batch['input_ids'].clone()\n"
            "    labels[batch['attention_mask'] == 0] = -100\n"
            "    return labels\n",
            "def collate(batch, pad_token_id):\n    labels = batch['input_ids'].clone()\n    return labels\n",
        ),
    )
    UNCHANGED = (
        "scores = scores.masked_fill(~mask, float('-inf'))\n",
        "def f(labels):\n    labels[labels == 3] = 0\n    return labels\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.SimpleStatementLine):
            return removed_if(node, _masks_labels)
        assert isinstance(node, cst.Call)
        if callee_name(node) != "masked_fill" or not isinstance(node.func, cst.Attribute):
            return ()
        value = argument(node, keyword="value", position=1)
        if value is None or not is_ignore_label(value[1].value):
            return ()
        return (method_call(node.func.value, "clone()"),)
