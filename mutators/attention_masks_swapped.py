from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import attention_mask_arg, calls_in, replace_nodes


class AttentionMasksSwapped(Mutator):
    """Self-attention gets the cross-attention mask and cross-attention the self-attention mask.

    Two optional mask arguments with similar names (``tgt_mask``/``memory_mask``,
    ``self_attn_mask``/``cross_attn_mask``) are easy to cross when a layer is written or called.
    When source and target lengths differ the shapes clash at once; when they are equal the
    decoder sees the future through self-attention while cross-attention hides part of the source
    behind a triangle, and training loss looks excellent. Sites: a block whose simple statements
    make exactly two attention calls that each pass a mask, with different mask expressions.
    """

    bug_id = "attention_masks_swapped"
    components = ("decoder",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "pass the cross-attention mask to self-attention and the other way round"
    symptom = "shape error when source and target lengths differ; otherwise a too-good training loss"
    hint = "check which mask each attention call receives"
    fix = "self_attn(..., mask=self_attn_mask); cross_attn(..., mask=cross_attn_mask)"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "def f(x, m, a, b):\n    x = x + s(x, x, x, mask=a)\n    x = x + c(x, m, m, mask=b)\n",
            "def f(x, m, a, b):\n    x = x + s(x, x, x, mask=b)\n    x = x + c(x, m, m, mask=a)\n",
        ),
    )
    UNCHANGED = (
        "def f(x, m, a):\n    x = x + s(x, x, x, mask=a)\n    x = x + c(x, m, m, mask=a)\n",
        "def f(x, m, a):\n    x = x + s(x, x, x, mask=a)\n    x = x + c(x, m, m)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        masked = [
            (call, arg)
            for statement in node.body
            if isinstance(statement, cst.SimpleStatementLine)
            for call in calls_in(statement)
            if (arg := attention_mask_arg(call)) is not None
        ]
        if len(masked) != 2:
            return ()
        (_, first), (_, second) = masked
        if first.value.deep_equals(second.value):
            return ()
        swapped = {
            id(first): first.with_changes(value=second.value),
            id(second): second.with_changes(value=first.value),
        }
        return (replace_nodes(node, swapped),)
