from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._patterns import is_sqrt_like

_INVERSE_SQRT = m.BinaryOperation(
    operator=m.Power(), right=m.UnaryOperation(operator=m.Minus(), expression=m.Float("0.5"))
)


class AttentionScaleInverted(Mutator):
    """Attention scores are multiplied by sqrt(d_k) instead of divided by it.

    A misremembered formula ("scale by sqrt(d_k)") or a sign slip in ``d_k ** -0.5``: the scores
    grow by a factor d_k compared with the right scale, so the softmax saturates even harder than
    with no scale at all, most heads attend to a single key and gradients vanish. Nothing crashes.
    A square root of a sum (``sqrt(var + eps)``, as in a norm) is not a site: that is a
    normalization, not the attention scale.
    """

    bug_id = "attention_scale_inverted"
    components = ("attention", "gqa")
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "multiply the attention scores by sqrt(d_k) instead of dividing"
    symptom = "attention weights are one-hot from the first step; loss plateaus early"
    hint = "compare the spread of the scores before the softmax with 1; it should not grow with d_k"
    fix = "divide q @ k^T by math.sqrt(d_k) (or multiply by d_k ** -0.5)"
    node_types = (cst.BinaryOperation,)
    EXAMPLES = (
        Example("s = q @ k.T / math.sqrt(d_k)\n", "s = q @ k.T * math.sqrt(d_k)\n"),
        Example("s = torch.matmul(q, k) * d ** -0.5\n", "s = torch.matmul(q, k) * d ** 0.5\n"),
        Example(
            "att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))\n",
            "att = (q @ k.transpose(-2, -1)) * (1.0 * math.sqrt(k.size(-1)))\n",
        ),
    )
    UNCHANGED = ("y = (x - mean) / torch.sqrt(var + eps)\n", "y = x / 2\n", "y = x * d ** 0.5\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.BinaryOperation)
        if isinstance(node.operator, cst.Divide) and is_sqrt_like(node.right):
            if _is_sqrt_of_sum(node.right):
                return ()
            return (
                node.with_changes(
                    operator=cst.Multiply(
                        whitespace_before=node.operator.whitespace_before,
                        whitespace_after=node.operator.whitespace_after,
                    )
                ),
            )
        if isinstance(node.operator, cst.Multiply) and m.matches(node.right, _INVERSE_SQRT):
            power = node.right
            assert isinstance(power, cst.BinaryOperation) and isinstance(power.right, cst.UnaryOperation)
            return (node.with_changes(right=power.with_changes(right=power.right.expression)),)
        return ()


def _is_sqrt_of_sum(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Call) and expr.args:
        return m.matches(expr.args[0].value, m.BinaryOperation(operator=m.Add()))
    return False
