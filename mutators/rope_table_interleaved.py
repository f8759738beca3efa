from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import argument, callee_name, code, int_literal

_ANGLE_TABLES = ("freqs", "angles", "idx_theta", "emb", "theta")


def _interleaved(table: cst.BaseExpression) -> cst.Call:
    """``table.repeat_interleave(2, dim=-1)``."""
    return cst.Call(
        func=cst.Attribute(value=table, attr=cst.Name("repeat_interleave")),
        args=[
            cst.Arg(cst.Integer("2")),
            cst.Arg(
                keyword=cst.Name("dim"),
                value=cst.UnaryOperation(cst.Minus(), cst.Integer("1")),
                equal=cst.AssignEqual(cst.SimpleWhitespace(""), cst.SimpleWhitespace("")),
            ),
        ],
    )


class RopeTableInterleaved(Mutator):
    """The rotary table is laid out for interleaved pairs while the rotation pairs halves.

    In the half-split layout (GPT-NeoX, Hugging Face Llama) the angle of pair ``j`` sits in
    columns ``j`` and ``j + D/2``: ``torch.cat((freqs, freqs), dim=-1)``. Meta's original Llama
    pairs ``(2j, 2j + 1)`` and repeats each angle in place (``repeat_interleave(2)``). Mixing the
    two (the classic bug of checkpoint conversion scripts) gives cos and sin of different angles
    to the two halves of a pair: no rotation at all, norms change with position, and a converted
    checkpoint is garbage while a model trained from scratch limps along. Sites: a concatenation
    of a tensor with itself on the last axis, and ``.repeat(1, 2)`` of an angle table.
    """

    bug_id = "rope_table_interleaved"
    components = ("rope",)
    category = Category.SHAPES
    layer = Layer.DATA
    description = "rotary table repeated per pair (interleaved layout) for a half-split rotate_half"
    symptom = "a converted checkpoint gives garbage; a model trained from scratch learns position poorly"
    hint = "columns j and j + D/2 of the cos table must hold the same angle"
    fix = (
        "emb = torch.cat((freqs, freqs), dim=-1) for rotate_half (repeat_interleave is for interleaved pairs)"
    )
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("emb = torch.cat((freqs, freqs), dim=-1)\n", "emb = freqs.repeat_interleave(2, dim=-1)\n"),
        Example("c = idx_theta.repeat(1, 2)\n", "c = idx_theta.repeat_interleave(2, dim=-1)\n"),
    )
    UNCHANGED = (
        "x = torch.cat((x, x), dim=0)\n",
        "x = torch.cat((a, b), dim=-1)\n",
        "m = mask.repeat(1, 2)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        name = callee_name(node)
        if name == "repeat" and isinstance(node.func, cst.Attribute):
            table = node.func.value
            values = [int_literal(a.value) for a in node.args]
            if values == [1, 2] and isinstance(table, cst.Name) and table.value in _ANGLE_TABLES:
                return (_interleaved(table),)
            return ()
        if name != "cat" or not node.args:
            return ()
        pair = node.args[0].value
        axis = argument(node, keyword="dim", position=1)
        if axis is None or int_literal(axis[1].value) != -1:
            return ()
        if not isinstance(pair, (cst.Tuple, cst.List)) or len(pair.elements) != 2:
            return ()
        first, second = (element.value for element in pair.elements)
        if code(first) != code(second) or not isinstance(first, (cst.Name, cst.Attribute)):
            return ()
        return (_interleaved(first),)
