from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, SiteContext

from ._numerics import is_epsilon, is_module_call, operand, with_operand
from ._patterns import argument, callee_name, replace_arg
from ._state import with_keyword

#: functions that are infinite (log) or infinitely steep (sqrt), or both (rsqrt), at zero
_GUARDED = ("log", "log2", "log10", "sqrt", "rsqrt")
_CLAMPS = ("clamp", "clamp_min", "clip")
#: normalizations that take an epsilon, and the position of ``eps`` among their arguments
_NORMS = {
    "layer_norm": 4,
    "rms_norm": 3,
    "group_norm": 4,
    "batch_norm": 7,
    "LayerNorm": 1,
    "RMSNorm": 1,
    "GroupNorm": 2,
    "BatchNorm1d": 1,
    "BatchNorm2d": 1,
    "BatchNorm3d": 1,
}


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
    becomes ``x``. The normalizations that add the epsilon themselves are sites too:
    ``F.layer_norm``, ``F.rms_norm``, ``F.group_norm``, ``F.batch_norm`` and the ``nn.LayerNorm``,
    ``nn.RMSNorm``, ``nn.GroupNorm``, ``nn.BatchNorm*d`` they build, whose ``eps`` becomes 0 (or
    is given as 0 where it was left to its non-zero default).
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
        Example(
            "y = F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)\n",
            "y = F.layer_norm(x, self.weight.shape, self.weight, self.bias, 0.0)\n",
        ),
        Example(
            "y = F.rms_norm(x, (d,), self.weight, eps=self.eps)\n",
            "y = F.rms_norm(x, (d,), self.weight, eps=0.0)\n",
        ),
        Example("self.ln_f = nn.LayerNorm(d_model)\n", "self.ln_f = nn.LayerNorm(d_model, eps=0.0)\n"),
        Example(
            "h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)\n",
            "h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True))\n",
        ),
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
        "norm = nn.LayerNorm(d, eps=0.0)\n",
        "norm = nn.LayerNorm(d, **factory_kwargs)\n",
        "class LayerNorm(nn.Module):\n    def __init__(self, ndim, bias):\n        pass\n"
        "ln = LayerNorm(d, bias=True)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.Call):
            if callee_name(node) in _NORMS:
                return _without_norm_epsilon(self.context, node)
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


def _without_epsilon(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """``x`` of ``x + eps``, ``eps + x``, ``x.clamp(min=eps)``, ``x.clamp_min(eps)`` or
    ``torch.clamp(x, eps)``; ``None`` when ``expr`` is none of them."""
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
        if is_epsilon(expr.right) and not is_epsilon(expr.left):
            return expr.left
        if is_epsilon(expr.left) and not is_epsilon(expr.right):
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
        if clamped is None or found is None or upper or not is_epsilon(found[1].value):
            return None
        return clamped
    return None


def _without_norm_epsilon(context: SiteContext, call: cst.Call) -> Sequence[Replacement]:
    """A normalization call with ``eps=0.0``: its own epsilon replaced, or given where left out."""
    name = callee_name(call)
    assert name is not None
    if any(a.star == "**" for a in call.args):
        return ()  # the keywords may already hold an eps
    position: int | None = _NORMS[name]
    local = _local_class(context, call)
    if local is not None:
        # a class of this module under a norm's name (nanoGPT's LayerNorm(ndim, bias)): its
        # own signature says whether and where it takes an eps
        params = _init_parameters(local)
        if params is not None:
            if "eps" not in params:
                return ()
            position = params.index("eps")
    found = argument(call, keyword="eps", position=position)
    zero = cst.Float("0.0")
    if found is None:
        return (with_keyword(call, "eps", zero),)
    index, arg = found
    if m.matches(arg.value, m.Float("0.0") | m.Integer("0") | m.Float("0.")):
        return ()
    return (replace_arg(call, index, zero),)


def _local_class(context: SiteContext, call: cst.Call) -> cst.ClassDef | None:
    module = context.module
    if module is None or not isinstance(call.func, cst.Name):
        return None
    for statement in module.body:
        if isinstance(statement, cst.ClassDef) and statement.name.value == call.func.value:
            return statement
    return None


def _init_parameters(cls: cst.ClassDef) -> list[str] | None:
    """The parameters of ``cls.__init__`` after ``self``; ``None`` when it inherits one."""
    for statement in cls.body.body:
        if isinstance(statement, cst.FunctionDef) and statement.name.value == "__init__":
            params = [p.name.value for p in statement.params.params][1:]
            if not isinstance(statement.params.star_kwarg, cst.Param):
                return params
            return [*params, "eps"] if "eps" not in params else params
    return None
