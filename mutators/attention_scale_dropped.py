from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._patterns import is_sqrt_like


class AttentionScaleDropped(Mutator):
    """Attention scores are no longer divided by sqrt(d_k).

    The dot product of two random d_k-dimensional vectors has variance d_k, so unscaled scores
    grow with the head size and push the softmax into saturation: nearly one-hot weights and
    vanishing gradients. Training still runs, only slower and worse, which is why the line is
    easy to lose in a refactor. A square root of a sum (``sqrt(var + eps)``, as in a norm) is
    not a site: that is a normalization, not the attention scale.
    """

    bug_id = "attention_scale_dropped"
    components = ("attention", "gqa")
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "drop the 1/sqrt(d_k) scaling of the attention scores"
    symptom = "attention weights are nearly one-hot; loss falls slowly and plateaus"
    hint = "look at the magnitude of the scores right before the softmax"
    fix = "divide q @ k^T by math.sqrt(d_k) (or multiply by d_k ** -0.5)"
    node_types = (cst.BinaryOperation,)
    EXAMPLES = (
        Example("s = q @ k.T / math.sqrt(d_k)\n", "s = q @ k.T\n"),
        Example("s = torch.matmul(q, k) * d ** -0.5\n", "s = torch.matmul(q, k)\n"),
    )
    UNCHANGED = ("y = (x - mean) / torch.sqrt(var + eps)\n", "y = x / 2\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.BinaryOperation)
        if isinstance(node.operator, cst.Divide) and is_sqrt_like(node.right):
            if _is_sqrt_of_sum(node.right):
                return ()
            return (node.left,)
        inverse_sqrt = m.BinaryOperation(
            operator=m.Power(), right=m.UnaryOperation(operator=m.Minus(), expression=m.Float("0.5"))
        )
        if isinstance(node.operator, cst.Multiply) and m.matches(node.right, inverse_sqrt):
            return (node.left,)
        return ()


def _is_sqrt_of_sum(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Call) and expr.args:
        return isinstance(expr.args[0].value, cst.BinaryOperation) and isinstance(
            expr.args[0].value.operator, cst.Add
        )
    return False
