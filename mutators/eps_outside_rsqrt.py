from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import callee_name, code, dotted_name


def _eps_sum(expr: cst.BaseExpression) -> cst.BinaryOperation | None:
    """``a + eps`` where the added term names an epsilon (``self.eps``, ``variance_epsilon``)."""
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        if "eps" in code(expr.right).lower():
            return expr
    return None


def _reciprocal(root: cst.BaseExpression, eps: cst.BaseExpression) -> cst.BinaryOperation:
    """``(1.0 / (root + eps))``."""
    denominator = cst.BinaryOperation(root, cst.Add(), eps, lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return cst.BinaryOperation(
        cst.Float("1.0"), cst.Divide(), denominator, lpar=[cst.LeftParen()], rpar=[cst.RightParen()]
    )


class EpsOutsideRsqrt(Mutator):
    """The epsilon of an inverse square root is added after the root: ``1 / (sqrt(ms) + eps)``
    instead of ``rsqrt(ms + eps)``.

    Llama-style norms write the inverse root as ``torch.rsqrt(variance + eps)``; spelled out by
    hand the epsilon easily lands outside. The two agree on ordinary rows, so outputs look right,
    but on a (nearly) zero row the output is ``x / eps`` against ``x / sqrt(eps)``: orders of
    magnitude apart, and the gradient of ``sqrt`` at zero is infinite. Sites: ``torch.rsqrt(a +
    eps)``, ``(a + eps).rsqrt()`` and ``(a + eps) ** -0.5`` where the added term names an
    epsilon; the ``sqrt(a + eps)`` spelling is ``layernorm_eps_outside_sqrt``'s.
    """

    bug_id = "eps_outside_rsqrt"
    components = ("rmsnorm",)
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = (
        "add the norm's epsilon after the inverse square root: 1 / (sqrt(ms) + eps), not rsqrt(ms + eps)"
    )
    symptom = "NaN or huge activations on (nearly) zero rows; outputs differ from nn.RMSNorm on small inputs"
    hint = "where is eps added: to the mean square, or to its square root?"
    fix = "x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)"
    node_types = (cst.Call, cst.BinaryOperation)
    EXAMPLES = (
        Example(
            "h = h * torch.rsqrt(variance + self.variance_epsilon)\n",
            "h = h * (1.0 / (torch.sqrt(variance) + self.variance_epsilon))\n",
        ),
        Example("y = x * (ms + self.eps).rsqrt()\n", "y = x * (1.0 / (ms.sqrt() + self.eps))\n"),
        Example("y = x * (ms + eps) ** -0.5\n", "y = x * (1.0 / (ms ** 0.5 + eps))\n"),
    )
    UNCHANGED = ("y = x * torch.rsqrt(ms)\n", "y = torch.rsqrt(a + b)\n", "y = (a + eps) ** 2\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.Call):
            if callee_name(node) != "rsqrt" or not isinstance(node.func, cst.Attribute):
                return ()
            if dotted_name(node.func.value) == "torch" and len(node.args) == 1:
                total = _eps_sum(node.args[0].value)
                if total is None:
                    return ()
                root = node.with_changes(
                    func=node.func.with_changes(attr=cst.Name("sqrt")), args=[cst.Arg(total.left)]
                )
                return (_reciprocal(root, total.right),)
            total = _eps_sum(node.func.value)
            if total is None or node.args:
                return ()
            root = cst.Call(func=cst.Attribute(value=total.left, attr=cst.Name("sqrt")))
            return (_reciprocal(root, total.right),)
        assert isinstance(node, cst.BinaryOperation)
        inverse_root = m.BinaryOperation(
            operator=m.Power(), right=m.UnaryOperation(operator=m.Minus(), expression=m.Float("0.5"))
        )
        if not m.matches(node, inverse_root):
            return ()
        total = _eps_sum(node.left)
        if total is None:
            return ()
        power_root = cst.BinaryOperation(total.left, cst.Power(), cst.Float("0.5"))
        return (_reciprocal(power_root, total.right),)
