from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._numerics import is_module_call, operand, with_operand
from pytest_mlbugs.mutators._patterns import argument, callee_name

#: functions that are infinite (log) or infinitely steep (sqrt), or both (rsqrt), at zero
_GUARDED = ("log", "log2", "log10", "sqrt", "rsqrt")
_CLAMPS = ("clamp", "clamp_min", "clip")
#: the largest literal that reads as an epsilon rather than a value
_LARGEST_EPSILON = 1e-3


class EpsilonMissing(Mutator):
    """The epsilon that keeps a log or a square root away from zero is left out.

    ``torch.log(p + 1e-8)``, ``p.clamp_min(eps).log()`` and ``torch.sqrt(var + self.eps)``
    look as if the epsilon changed nothing, and on typical values it does not. The first
    probability that underflows to exactly 0 gives ``log(0) = -inf`` (and ``0 * log(0)`` is
    NaN even where the weight is zero); the first constant row gives a variance of 0, a
    division by ``sqrt(0)`` and an infinite gradient. Sites are ``log``, ``log2``, ``log10``,
    ``sqrt`` and ``rsqrt`` calls, and ``** 0.5``, whose argument is ``x + eps`` or ``x``
    clamped from below by ``eps``; ``eps`` is a name that says so (``eps``, ``epsilon``,
    ``tiny``, ``finfo(...).eps``) or a positive literal of at most 1e-3. The argument
    becomes ``x``.
    """

    bug_id = "epsilon_missing"
    components = ("normalization", "rmsnorm")
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "the epsilon guarding a log or a square root from zero is left out"
    symptom = "inf or NaN loss as soon as a probability underflows to 0 or a row is constant"
    hint = "look at every log and sqrt: what happens when its argument is exactly zero?"
    fix = "keep the argument away from zero: log(p.clamp_min(eps)), sqrt(var + eps), or work in log space"
    loud = True
    node_types = (cst.Call, cst.BinaryOperation)
    EXAMPLES = (
        Example("h = -(p * torch.log(p + 1e-12)).sum(-1)\n", "h = -(p * torch.log(p)).sum(-1)\n"),
        Example("y = (x - m) / torch.sqrt(var + self.eps)\n", "y = (x - m) / torch.sqrt(var)\n"),
        Example("lp = p.clamp_min(eps).log()\n", "lp = p.log()\n"),
        Example("lp = torch.log(torch.clamp(p, min=EPS))\n", "lp = torch.log(p)\n"),
        Example("r = torch.rsqrt(torch.finfo(v.dtype).eps + v)\n", "r = torch.rsqrt(v)\n"),
        Example("s = (v + epsilon) ** 0.5\n", "s = v ** 0.5\n"),
        Example("b = math.log2(q.clamp(1e-6))\n", "b = math.log2(q)\n"),
    )
    UNCHANGED = (
        "y = torch.log(p + 1.0)\n",
        "y = torch.log(p + q)\n",
        "y = torch.log1p(p + 1e-8)\n",
        "s = math.sqrt(d_k)\n",
        "y = torch.log(p.clamp(max=eps))\n",
        "y = (v + eps) ** 2\n",
        "y = torch.exp(p + eps)\n",
        "y = torch.log(p + num_steps)\n",
        "y = torch.log(p + 0x1F)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.Call):
            if callee_name(node) not in _GUARDED:
                return ()
            argument_ = operand(node)
            unguarded = None if argument_ is None else _without_epsilon(argument_)
            return () if unguarded is None else (with_operand(node, unguarded),)
        assert isinstance(node, cst.BinaryOperation)
        if not (isinstance(node.operator, cst.Power) and m.matches(node.right, m.Float("0.5"))):
            return ()
        unguarded = _without_epsilon(node.left)
        if unguarded is None:
            return ()
        if isinstance(unguarded, cst.BinaryOperation | cst.UnaryOperation) and not unguarded.lpar:
            unguarded = unguarded.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        return (node.with_changes(left=unguarded),)


def _is_epsilon(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Float):  # no integer literal is small enough
        return 0 < float(expr.value) <= _LARGEST_EPSILON
    if isinstance(expr, cst.Attribute):
        expr = expr.attr
    if isinstance(expr, cst.Name):
        # eps, EPS, self.norm_eps, epsilon, finfo(...).tiny; not steps or reps
        return any(word in ("eps", "epsilon", "tiny") for word in expr.value.lower().split("_"))
    return False


def _without_epsilon(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """``x`` of ``x + eps``, ``eps + x``, ``x.clamp(min=eps)``, ``x.clamp_min(eps)`` or
    ``torch.clamp(x, eps)``; ``None`` when ``expr`` is none of them."""
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        if _is_epsilon(expr.right) and not _is_epsilon(expr.left):
            return expr.left
        if _is_epsilon(expr.left) and not _is_epsilon(expr.right):
            return expr.right
        return None
    if isinstance(expr, cst.Call) and callee_name(expr) in _CLAMPS:
        clamped = operand(expr)
        position = 1 if is_module_call(expr) else 0
        found = argument(expr, keyword="min", position=position)
        positional = sum(1 for a in expr.args if a.keyword is None)
        upper = positional > position + 1 or any(
            a.keyword is not None and a.keyword.value == "max" for a in expr.args
        )
        if clamped is None or found is None or upper or not _is_epsilon(found[1].value):
            return None
        return clamped
    return None
