from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._patterns import callee_name


class LayerNormEpsOutsideSqrt(Mutator):
    """The epsilon of a normalization is added after the square root instead of inside it.

    ``(x - mean) / (sqrt(var) + eps)`` and ``(x - mean) / sqrt(var + eps)`` agree when the
    variance is large, so the outputs look right on typical activations; for nearly constant
    rows they differ by orders of magnitude (``eps`` against ``sqrt(eps)``), and the gradient
    of ``sqrt`` at zero variance is infinite: NaN appears once a row collapses. A site is
    ``sqrt(a + b)`` or ``(a + b) ** 0.5``; it becomes ``sqrt(a) + b``.
    """

    bug_id = "layernorm_eps_outside_sqrt"
    components = ("normalization",)
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "add the layer norm epsilon outside the square root"
    symptom = "NaN gradients after a few steps on (nearly) constant rows; outputs differ from nn.LayerNorm"
    hint = "where is eps added: to the variance, or to the standard deviation?"
    fix = "divide by torch.sqrt(var + eps) (or multiply by torch.rsqrt(var + eps))"
    node_types = (cst.Call, cst.BinaryOperation)
    EXAMPLES = (
        Example("y = (x - m) / torch.sqrt(var + self.eps)\n", "y = (x - m) / (torch.sqrt(var) + self.eps)\n"),
        Example("y = d / (v + eps) ** 0.5\n", "y = d / (v ** 0.5 + eps)\n"),
    )
    UNCHANGED = ("y = d / torch.sqrt(v)\n", "s = math.sqrt(d_k)\n", "y = (v + eps) ** 2\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        add = m.BinaryOperation(operator=m.Add())
        if isinstance(node, cst.Call):
            if callee_name(node) != "sqrt" or len(node.args) != 1 or not m.matches(node.args[0].value, add):
                return ()
            total = node.args[0].value
            assert isinstance(total, cst.BinaryOperation)
            root = node.with_changes(args=[node.args[0].with_changes(value=total.left)])
            return (_parenthesized(cst.BinaryOperation(root, cst.Add(), total.right)),)
        assert isinstance(node, cst.BinaryOperation)
        if not (m.matches(node.operator, m.Power()) and m.matches(node.right, m.Float("0.5"))):
            return ()
        if not m.matches(node.left, add):
            return ()
        total = node.left
        assert isinstance(total, cst.BinaryOperation)
        power = node.with_changes(left=total.left)
        return (_parenthesized(total.with_changes(left=power, lpar=[], rpar=[])),)


def _parenthesized(expr: cst.BinaryOperation) -> cst.BinaryOperation:
    return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
