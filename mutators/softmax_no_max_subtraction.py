from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, SiteContext

from ._context import code, words
from ._numerics import is_exp, operand, with_operand
from ._patterns import callee_name

#: what a max shift is computed with, and the names it is kept under
_MAXIMA = ("max", "amax", "logsumexp", "max_values")
_SHIFT_WORDS = frozenset(("m", "max", "mx", "maxes", "peak", "shift", "lse", "maximum", "row", "stab"))


class SoftmaxNoMaxSubtraction(Mutator):
    """The exponent of a softmax or logsumexp no longer has the maximum taken out.

    ``exp(x - max(x))`` equals ``exp(x) / exp(max(x))``, and the factor cancels in the
    normalization, so the shift looks redundant and gets "simplified" away. It is not: in
    float32 ``exp`` overflows to inf above about 88, and ``inf / inf`` is NaN. With ordinary
    logits everything works, which is why the bug survives until the model grows confident
    and the loss turns NaN after a few hundred steps. A site is ``exp(a - b)`` where ``b`` is a
    maximum: a ``max``/``amax``/``logsumexp`` of something, or a name that holds one (``m``,
    ``peak``, a name assigned from ``x.amax(...)``); where the shift is also added back
    (``m + log(sum(exp(x - m)))``) dropping it is wrong at any scale, which is louder still. Any
    other difference under an exponential (a ratio of probabilities, a decay) is no softmax.
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
    UNCHANGED = (
        "e = torch.exp(-x.abs())\n",
        "e = torch.exp(x)\n",
        "e = math.exp(a + b)\n",
        "ratio = torch.exp(log_probs - old_log_probs)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if not is_exp(node):
            return ()
        argument = operand(node)
        if not isinstance(argument, cst.BinaryOperation) or not isinstance(argument.operator, cst.Subtract):
            return ()
        if not _is_maximum(self.context, argument.right):
            return ()
        return (with_operand(node, argument.left),)


def _is_maximum(context: SiteContext, expr: cst.BaseExpression) -> bool:
    """A row maximum: ``x.amax(...)``, ``x.max(...)[0]``, ``x.max(...).values``, a logsumexp, or
    a name that holds one."""
    if isinstance(expr, (cst.Subscript, cst.Attribute)) and isinstance(expr.value, cst.Call):
        expr = expr.value
    if isinstance(expr, cst.Call):
        return (callee_name(expr) or "") in _MAXIMA
    if isinstance(expr, (cst.Name, cst.Attribute)):
        source = context.value_of(expr)
        if source is not None:
            return _is_maximum(context, source)
        return bool(words(code(expr).split(".")[-1]) & _SHIFT_WORDS)
    return False
