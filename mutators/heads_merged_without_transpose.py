from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import is_head_swap, is_reshape, receiver
from ._patterns import callee_name


def _is_merge(call: cst.Call) -> bool:
    """``x.view(B, T, D)`` / ``x.reshape(B, T, D)`` or ``x.flatten(2)``: heads folded back."""
    if is_reshape(call, dims=3):
        return True
    return callee_name(call) == "flatten" and isinstance(call.func, cst.Attribute) and len(call.args) == 1


class HeadsMergedWithoutTranspose(Mutator):
    """The per-head outputs ``(B, H, T, d_k)`` are reshaped to ``(B, T, d_model)`` without first
    swapping the head and length axes back.

    The element count matches, so ``.contiguous().view(B, T, d_model)`` succeeds, but each output
    row is now a slice of one head's outputs over several positions: positions are scrambled
    across the batch of tokens. The model still trains (the output projection partly adapts), which
    is why this is one of the most common silent attention bugs. Sites: a 3-axis
    ``view``/``reshape`` or ``flatten`` applied to ``x.transpose(1, 2)`` (or its ``.contiguous()``).
    """

    bug_id = "heads_merged_without_transpose"
    components = ("attention", "gqa")
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "merge heads with view(B, T, d_model) without transpose(1, 2) first"
    symptom = "no error, but the model learns slowly: outputs of different positions are interleaved"
    hint = "check that out[:, t] depends only on position t's context across heads"
    fix = "context.transpose(1, 2).contiguous().view(B, T, d_model)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "y = ctx.transpose(1, 2).contiguous().view(b, t, d)\n",
            "y = ctx.contiguous().view(b, t, d)\n",
        ),
        Example("y = ctx.transpose(1, 2).reshape(b, t, -1)\n", "y = ctx.reshape(b, t, -1)\n"),
        Example("y = ctx.permute(0, 2, 1, 3).flatten(2)\n", "y = ctx.flatten(2)\n"),
    )
    UNCHANGED = ("y = ctx.contiguous().view(b, t, d)\n", "q = q.view(b, t, h, d).transpose(1, 2)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if not _is_merge(node):
            return ()
        inner = receiver(node)
        if (
            isinstance(inner, cst.Call)
            and callee_name(inner) == "contiguous"
            and isinstance(inner.func, cst.Attribute)
        ):
            swap = inner.func.value
            if isinstance(swap, cst.Call) and is_head_swap(swap):
                contiguous = inner.with_changes(func=inner.func.with_changes(value=receiver(swap)))
                return (node.with_changes(func=node.func.with_changes(value=contiguous)),)
            return ()
        if isinstance(inner, cst.Call) and is_head_swap(inner):
            return (node.with_changes(func=node.func.with_changes(value=receiver(inner))),)
        return ()
