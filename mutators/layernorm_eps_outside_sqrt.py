from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._numerics import is_epsilon, is_module_call
from ._patterns import callee_name


class LayerNormEpsOutsideSqrt(Mutator):
    """The epsilon of a normalization is added after the square root instead of inside it.

    ``(x - mean) / (sqrt(var) + eps)`` and ``(x - mean) / sqrt(var + eps)`` agree when the
    variance is large, so the outputs look right on typical activations; for nearly constant
    rows they differ by orders of magnitude (``eps`` against ``sqrt(eps)``), and the gradient
    of ``sqrt`` at zero variance is infinite: NaN appears once a row collapses. A site is
    ``sqrt(a + eps)`` or ``(a + eps) ** 0.5``, which becomes ``sqrt(a) + eps``, and ``rsqrt(a +
    eps)`` (RMSNorm, Llama's and T5's norms), which becomes ``1 / (sqrt(a) + eps)``; ``eps`` is an
    epsilon (a name that says so, or a literal of at most 1e-3), not any sum under a root.
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
        Example(
            "h = h * torch.rsqrt(variance + self.variance_epsilon)\n",
            "h = h * (1 / (torch.sqrt(variance) + self.variance_epsilon))\n",
        ),
        Example("y = x * (var + 1e-6).rsqrt()\n", "y = x * (1 / (var.sqrt() + 1e-6))\n"),
    )
    UNCHANGED = (
        "y = d / torch.sqrt(v)\n",
        "s = math.sqrt(d_k)\n",
        "y = (v + eps) ** 2\n",
        "r = math.sqrt(dx * dx + dy * dy)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        add = m.BinaryOperation(operator=m.Add())
        if isinstance(node, cst.Call):
            if callee_name(node) == "rsqrt":
                return _reciprocal(node)
            if callee_name(node) != "sqrt" or len(node.args) != 1 or not m.matches(node.args[0].value, add):
                return ()
            total = node.args[0].value
            assert isinstance(total, cst.BinaryOperation)
            if not is_epsilon(total.right):
                return ()
            root = node.with_changes(args=[node.args[0].with_changes(value=total.left)])
            return (_parenthesized(cst.BinaryOperation(root, cst.Add(), total.right)),)
        assert isinstance(node, cst.BinaryOperation)
        if not (m.matches(node.operator, m.Power()) and m.matches(node.right, m.Float("0.5"))):
            return ()
        if not m.matches(node.left, add):
            return ()
        total = node.left
        assert isinstance(total, cst.BinaryOperation)
        if not is_epsilon(total.right):
            return ()
        power = node.with_changes(left=total.left)
        return (_parenthesized(total.with_changes(left=power, lpar=[], rpar=[])),)


def _parenthesized(expr: cst.BinaryOperation) -> cst.BinaryOperation:
    return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def _reciprocal(call: cst.Call) -> Sequence[Replacement]:
    """``rsqrt(a + eps)`` as ``1 / (sqrt(a) + eps)``, in the same function or method form."""
    if is_module_call(call):
        if len(call.args) != 1:
            return ()
        total = call.args[0].value
    elif isinstance(call.func, cst.Attribute) and not call.args:
        total = call.func.value
    else:
        return ()
    if not isinstance(total, cst.BinaryOperation) or not isinstance(total.operator, cst.Add):
        return ()
    if not is_epsilon(total.right):
        return ()
    inner = total.left
    if is_module_call(call):
        root: cst.BaseExpression = call.with_changes(
            func=call.func.with_changes(attr=cst.Name("sqrt"))
            if isinstance(call.func, cst.Attribute)
            else cst.Name("sqrt"),
            args=[call.args[0].with_changes(value=inner)],
        )
    else:
        assert isinstance(call.func, cst.Attribute)
        receiver = (
            inner
            if isinstance(inner, (cst.Name, cst.Attribute, cst.Call, cst.Subscript))
            else _parenthesized_expr(inner)
        )
        root = call.with_changes(func=call.func.with_changes(value=receiver, attr=cst.Name("sqrt")))
    shifted = _parenthesized(cst.BinaryOperation(root, cst.Add(), total.right))
    return (_parenthesized(cst.BinaryOperation(cst.Integer("1"), cst.Divide(), shifted)),)


def _parenthesized_expr(expr: cst.BaseExpression) -> cst.BaseExpression:
    return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
