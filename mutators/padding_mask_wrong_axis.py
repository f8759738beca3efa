from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._context import is_mask_like
from ._patterns import callee_name, int_literal, int_node


def _unsqueeze_axis(call: cst.BaseExpression) -> int | None:
    if not isinstance(call, cst.Call) or callee_name(call) != "unsqueeze" or len(call.args) != 1:
        return None
    if not isinstance(call.func, cst.Attribute):
        return None
    return int_literal(call.args[0].value)


def _is_none(element: cst.SubscriptElement) -> bool:
    return isinstance(element.slice, cst.Index) and m.matches(element.slice.value, m.Name("None"))


def _is_full(element: cst.SubscriptElement) -> bool:
    part = element.slice
    return isinstance(part, cst.Slice) and part.lower is None and part.upper is None and part.step is None


class PaddingMaskWrongAxis(Mutator):
    """The padding mask is expanded to (B, 1, T, 1) instead of (B, 1, 1, T).

    A (B, T) "is a real token" mask must broadcast over heads and queries and select keys:
    ``mask[:, None, None, :]``. Putting the sequence axis in the query position masks the
    rows of padded queries instead of the columns of padded keys: every real token still
    attends to the padding, and the (B, 1, T, T) product with a causal mask has the right
    shape, so nothing fails. Sites: ``x.unsqueeze(1).unsqueeze(2)`` (or ``(1).unsqueeze(1)``),
    ``x[:, None, None, :]`` and ``x.view(B, 1, 1, T)``, where ``x`` is a mask (its name says so,
    or it is a comparison such as ``ids != pad_id``); a norm's ``weight[:, None, None]`` is none.
    """

    bug_id = "padding_mask_wrong_axis"
    components = ("masks",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "expand the padding mask over keys on the query axis: (B, 1, T, 1)"
    symptom = "the model attends to padding: results change with the amount of padding in a batch"
    hint = "the padding mask must have shape (B, 1, 1, T): it selects keys (the last axis)"
    fix = "(input_ids != pad_token_id).unsqueeze(1).unsqueeze(2)  # (B, 1, 1, T)"
    node_types = (cst.Call, cst.Subscript)
    EXAMPLES = (
        Example("m = keep.unsqueeze(1).unsqueeze(2)\n", "m = keep.unsqueeze(1).unsqueeze(-1)\n"),
        Example("m = (ids != pad)[:, None, None, :]\n", "m = (ids != pad)[:, None, :, None]\n"),
        Example("m = keep.view(b, 1, 1, t)\n", "m = keep.view(b, 1, t, 1)\n"),
    )
    UNCHANGED = (
        "m = causal.unsqueeze(0).unsqueeze(0)\n",
        "m = x[:, None]\n",
        "m = x.view(b, 1, t, 1)\n",
        "x = x * weight[:, None, None] + bias[:, None, None]\n",
        "h = x.unsqueeze(1).unsqueeze(2)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.Subscript):
            if not is_mask_like(node.value):
                return ()
            elements = list(node.slice)
            if (
                len(elements) in (3, 4)
                and _is_full(elements[0])
                and _is_none(elements[1])
                and _is_none(elements[2])
            ):
                if len(elements) == 4 and not _is_full(elements[3]):
                    return ()
                swapped = [
                    elements[0],
                    elements[1],
                    elements[0],
                    elements[2].with_changes(comma=cst.MaybeSentinel.DEFAULT),
                ]
                return (node.with_changes(slice=swapped),)
            return ()
        assert isinstance(node, cst.Call)
        outer = _unsqueeze_axis(node)
        if outer is not None:
            assert isinstance(node.func, cst.Attribute)
            inner = node.func.value
            if not (isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute)):
                return ()
            if not is_mask_like(inner.func.value):
                return ()
            if _unsqueeze_axis(node.func.value) == 1 and outer in (1, 2):
                return (node.with_changes(args=[node.args[0].with_changes(value=int_node(-1))]),)
            return ()
        if (
            callee_name(node) in ("view", "reshape")
            and isinstance(node.func, cst.Attribute)
            and len(node.args) == 4
            and is_mask_like(node.func.value)
        ):
            sizes = [int_literal(a.value) for a in node.args]
            if sizes[1] == 1 and sizes[2] == 1 and sizes[3] != 1:
                third, fourth = node.args[2], node.args[3]
                args = [
                    *node.args[:2],
                    third.with_changes(value=fourth.value),
                    fourth.with_changes(value=third.value),
                ]
                return (node.with_changes(args=args),)
        return ()
