from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import callee_name

_ROTATE_HALF = ("rotate_half", "_rotate_half", "rotate_every_two")


class RopeRotateHalfFlipped(Mutator):
    """Rotary embeddings pair the features by ``flip`` instead of ``rotate_half``.

    ``rotate_half(x)`` maps the pair ``(x_j, x_{j+D/2})`` to ``(-x_{j+D/2}, x_j)`` so that
    ``x * cos + rotate_half(x) * sin`` turns each pair by its angle. ``x.flip(-1)`` looks like a
    shortcut for "swap the halves" but pairs feature ``j`` with ``D - 1 - j`` and drops the sign:
    the result is no rotation at all, norms change with position and the dot product of a query
    and a key no longer depends only on their distance. Shapes agree, so the model trains on a
    position signal that is mostly noise. Sites: a call of ``rotate_half`` (and its private or
    GPT-J-named spellings) on one tensor.
    """

    bug_id = "rope_rotate_half_flipped"
    components = ("rope",)
    category = Category.SHAPES
    layer = Layer.DATA
    description = "rotary embedding pairs features with x.flip(-1) instead of rotate_half(x)"
    symptom = (
        "long-context quality is poor and attention ignores relative position; norms drift with position"
    )
    hint = "rotate_half([1, 2, 3, 4]) must be [-3, -4, 1, 2]: compare with what the code computes"
    fix = "rotate_half(x) = torch.cat((-x[..., D // 2:], x[..., :D // 2]), dim=-1)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "q_embed = (q * cos) + (rotate_half(q) * sin)\n",
            "q_embed = (q * cos) + (q.flip(-1) * sin)\n",
        ),
        Example("k = k * cos + self._rotate_half(k) * sin\n", "k = k * cos + k.flip(-1) * sin\n"),
    )
    UNCHANGED = ("y = rotate(x)\n", "y = rotate_half(x, y)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if callee_name(node) not in _ROTATE_HALF or len(node.args) != 1 or node.args[0].keyword is not None:
            return ()
        operand = node.args[0].value
        if not isinstance(operand, (cst.Name, cst.Attribute, cst.Subscript)):
            operand = operand.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        flip = cst.Call(
            func=cst.Attribute(value=operand, attr=cst.Name("flip")),
            args=[cst.Arg(cst.UnaryOperation(cst.Minus(), cst.Integer("1")))],
        )
        return (flip,)
