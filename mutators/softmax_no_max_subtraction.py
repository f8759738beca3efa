from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._numerics import is_exp, operand, with_operand


class SoftmaxNoMaxSubtraction(Mutator):
    """The exponent of a softmax or logsumexp no longer has the maximum taken out.

    ``exp(x - max(x))`` equals ``exp(x) / exp(max(x))``, and the factor cancels in the
    normalization, so the shift looks redundant and gets "simplified" away. It is not: in
    float32 ``exp`` overflows to inf above about 88, and ``inf / inf`` is NaN. With ordinary
    logits everything works, which is why the bug survives until the model grows confident
    and the loss turns NaN after a few hundred steps. Every ``exp(a - b)`` is a site: where
    the shift is also added back (``m + log(sum(exp(x - m)))``) dropping it is wrong at any
    scale, which is louder still.
    """

    bug_id = "softmax_no_max_subtraction"
    components = ("numerics",)
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "exp(x) instead of exp(x - max(x)) in a softmax or logsumexp"
    symptom = "NaN loss after a few steps, once the logits grow"
    hint = "print the largest logit right before the softmax, then exp of it in float32"
    fix = "subtract the row maximum (x.amax(dim, keepdim=True)) before exp; add it back in logsumexp"
    loud = True
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("e = torch.exp(x - x.amax(dim=-1, keepdim=True))\n", "e = torch.exp(x)\n"),
        Example("e = (x - m).exp()\n", "e = x.exp()\n"),
        Example("e = torch.exp(s / t - m)\n", "e = torch.exp(s / t)\n"),
        Example("e = (a * b - m).exp()\n", "e = (a * b).exp()\n"),
    )
    UNCHANGED = ("e = torch.exp(-x.abs())\n", "e = torch.exp(x)\n", "e = math.exp(a + b)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if not is_exp(node):
            return ()
        argument = operand(node)
        if not isinstance(argument, cst.BinaryOperation) or not isinstance(argument.operator, cst.Subtract):
            return ()
        return (with_operand(node, argument.left),)
