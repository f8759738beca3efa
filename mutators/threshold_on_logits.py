from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._numerics import operand
from ._patterns import callee_name

_ORDERINGS = (cst.GreaterThan, cst.GreaterThanEqual, cst.LessThan, cst.LessThanEqual)


class ThresholdOnLogits(Mutator):
    """A probability threshold is compared with the logits instead of ``sigmoid(logits)``.

    ``sigmoid(x) >= 0.5`` is ``x >= 0``, but ``x >= 0.5`` is ``sigmoid(x) >= 0.62``: every
    example with a logit in [0, 0.5) flips to negative, and a threshold of 0.9 on logits
    means a probability of 0.71. The metric stays in [0, 1] and looks plausible; it is just
    measured at another operating point than the one reported. The site is an ordering
    comparison with ``sigmoid(...)`` on one side, which loses the sigmoid.
    """

    bug_id = "threshold_on_logits"
    components = ("metrics",)
    category = Category.EVALUATION
    layer = Layer.EVALUATION
    description = "threshold compared with logits instead of sigmoid probabilities"
    symptom = "binary accuracy or precision shifts oddly with the threshold; borderline examples flip"
    hint = "print sigmoid(logits) next to the predictions for a few examples near the threshold"
    fix = "compare sigmoid(logits) >= threshold (or logits >= log(t / (1 - t)))"
    node_types = (cst.Comparison,)
    EXAMPLES = (
        Example("p = torch.sigmoid(z) >= threshold\n", "p = z >= threshold\n"),
        Example("p = 0.5 < z.sigmoid()\n", "p = 0.5 < z\n"),
    )
    UNCHANGED = ("p = z >= 0\n", "p = torch.sigmoid(z) == y\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Comparison)
        if len(node.comparisons) != 1 or not isinstance(node.comparisons[0].operator, _ORDERINGS):
            return ()
        target = node.comparisons[0]
        if _sigmoid_operand(node.left) is not None:
            return (node.with_changes(left=_sigmoid_operand(node.left)),)
        inner = _sigmoid_operand(target.comparator)
        if inner is not None:
            return (node.with_changes(comparisons=[target.with_changes(comparator=inner)]),)
        return ()


def _sigmoid_operand(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    if isinstance(expr, cst.Call) and callee_name(expr) in ("sigmoid", "expit"):
        return operand(expr)
    return None
