from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import named

_ALL = m.SubscriptElement(slice=m.Slice(lower=None, upper=None, step=None))
_LAST = m.SubscriptElement(
    slice=m.Index(value=m.UnaryOperation(operator=m.Minus(), expression=m.Integer("1")))
)


class LogitsFromFirstPosition(Mutator):
    """The next token is read from the logits of the first position instead of the last.

    ``logits`` is ``(B, T, V)``: position ``t`` predicts token ``t + 1``, so only the last
    position predicts the next token. Reading ``logits[:, 0]`` predicts the prompt's second
    token again and again; once the cached steps feed one token at a time (``T == 1``) both
    agree, so only the first generated token is wrong, which is easy to miss. Sites:
    ``logits[:, -1, :]`` and ``logits[:, -1]`` on a name that says ``logits``.
    """

    bug_id = "logits_from_first_position"
    components = ("generation",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "read the next-token logits from the first position instead of the last"
    symptom = "the first generated token ignores the end of the prompt"
    hint = "which position of (B, T, V) logits predicts the next token?"
    fix = "take logits[:, -1, :]"
    node_types = (cst.Subscript,)
    EXAMPLES = (
        Example("logits = logits[:, -1, :] / temperature\n", "logits = logits[:, 0, :] / temperature\n"),
        Example(
            "next_token_logits = outputs.logits[:, -1, :].clone()\n",
            "next_token_logits = outputs.logits[:, 0, :].clone()\n",
        ),
        Example("probs = logits[:, -1].softmax(-1)\n", "probs = logits[:, 0].softmax(-1)\n"),
    )
    UNCHANGED = ("x = hidden[:, -1, :]\n", "y = logits[-1]\n", "z = logits[:, 0, :]\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Subscript)
        if not named(node.value, "logit") or not 2 <= len(node.slice) <= 3:
            return ()
        first, second, *rest = node.slice
        if (
            not m.matches(first, _ALL)
            or not m.matches(second, _LAST)
            or not all(m.matches(r, _ALL) for r in rest)
        ):
            return ()
        zero = second.with_changes(slice=cst.Index(cst.Integer("0")))
        return (node.with_changes(slice=[first, zero, *rest]),)
