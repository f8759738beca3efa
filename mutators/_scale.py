"""Where an attention scale is applied, shared by ``attention_scale_dropped`` and
``attention_scale_inverted`` (private: not a mutator module).

A scale site is one of:

- ``scores / sqrt(d)`` (``math.sqrt``, ``torch.sqrt``, ``d ** 0.5``), not the square root of a
  sum (that is a norm's ``sqrt(var + eps)``);
- ``scores * d ** -0.5``, ``scores * (1.0 / sqrt(d))``, or ``q * self.scale`` where ``scale`` was
  assigned such an inverse root (``** -0.5``, or whisper's ``** -0.25`` applied to q and k);
- the scale's own definition, ``self.scale = head_dim ** -0.5``;
- the ``scale=`` argument of ``scaled_dot_product_attention``.

Each must look like attention: the scores are a product of queries and keys (``@``, ``matmul``,
``einsum``, names such as ``scores``/``attn``/``q``), or the root is of a head size; an
initialization's standard deviation (``std=0.02 / math.sqrt(2 * n_layer)``, anything inside an
``nn.init`` call) never is.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Example
from pytest_mlbugs.mutation import SiteContext

from ._context import code, words
from ._patterns import callee_name, is_sqrt_like

_SCORE_WORDS = frozenset(
    ("scores", "score", "attn", "att", "attention", "sim", "dots", "logits", "q", "query", "qk", "weights")
)
_HEAD_WORDS = frozenset(
    ("dim", "d", "dk", "head", "heads", "hd", "k", "key", "keys", "size", "shape", "state", "embd")
)
_SCALE_WORDS = frozenset(("scale", "scaling", "softmax_scale", "sm", "temperature"))
#: the names a scale is defined under (``self.scale = head_dim ** -0.5``)
_SCALE_NAMES = frozenset(
    ("scale", "scaling", "softmax_scale", "sm_scale", "attn_scale", "qk_scale", "attention_scale")
)
_INIT_KEYWORDS = ("std", "gain", "a", "b", "mean")


@dataclasses.dataclass(frozen=True)
class ScaleSite:
    """A place where the attention scale is applied, and the two ways to get it wrong."""

    #: the scores without any scale
    dropped: cst.CSTNode
    #: the scores multiplied by sqrt(d) instead; ``None`` where the rewrite would not do that
    inverted: cst.CSTNode | None
    #: what dropping the scale here does, when it is not the whole 1/sqrt(d_k)
    dropped_description: str | None = None


def _negative_half(expr: cst.BaseExpression) -> bool:
    """``-0.5`` or ``-0.25``: the exponent of an inverse root."""
    return m.matches(
        expr,
        m.UnaryOperation(operator=m.Minus(), expression=m.Float("0.5") | m.Float("0.25") | m.Float(".5")),
    )


def _inverse_root(expr: cst.BaseExpression) -> bool:
    """``d ** -0.5`` (or ``-0.25``), ``1.0 / sqrt(d)``."""
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Power):
        return _negative_half(expr.right)
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Divide):
        return (
            m.matches(expr.left, m.Float() | m.Integer())
            and is_sqrt_like(expr.right)
            and not _root_of_sum(expr.right)
        )
    return False


def _root_of_sum(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Call) and expr.args:
        return m.matches(expr.args[0].value, m.BinaryOperation(operator=m.Add()))
    return m.matches(expr, m.BinaryOperation(left=m.BinaryOperation(operator=m.Add())))


def _in_initialization(context: SiteContext) -> bool:
    for ancestor in context.ancestors:
        if (
            isinstance(ancestor, cst.Arg)
            and ancestor.keyword is not None
            and ancestor.keyword.value in _INIT_KEYWORDS
        ):
            return True
        if isinstance(ancestor, cst.Call) and "init" in code(ancestor.func).split("."):
            return True
        if isinstance(ancestor, cst.Call) and (callee_name(ancestor) or "").endswith("_"):
            return True  # in-place initializers: normal_, uniform_, trunc_normal_
        if (
            isinstance(ancestor, cst.FunctionDef)
            and "init" in words(ancestor.name.value)
            and ancestor.name.value != "__init__"
        ):
            return True
    return False


def _scores_like(expr: cst.BaseExpression) -> bool:
    if m.findall(expr, m.BinaryOperation(operator=m.MatrixMultiply())):
        return True
    if m.findall(expr, m.Call(func=m.Attribute(attr=m.Name("matmul") | m.Name("bmm") | m.Name("einsum")))):
        return True
    return bool(words(code(expr)) & _SCORE_WORDS)


def _head_size(expr: cst.BaseExpression) -> bool:
    return bool(words(code(expr)) & _HEAD_WORDS)


def _named_scale(context: SiteContext, expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """The inverse root a name such as ``self.scale`` was assigned, when it was."""
    if not isinstance(expr, (cst.Name, cst.Attribute)) or not words(code(expr)) & _SCALE_WORDS:
        return None
    value = context.value_of(expr)
    return value if value is not None and _inverse_root(value) else None


def _with_power(root: cst.BinaryOperation, positive: bool) -> cst.BinaryOperation:
    assert isinstance(root.right, cst.UnaryOperation)
    return root.with_changes(right=root.right.expression if positive else root.right)


def _spacing(node: cst.BinaryOperation) -> dict[str, Any]:
    """The whitespace around ``node``'s operator, to keep in the operator that replaces it."""
    operator: Any = node.operator  # every binary operator has both; BaseBinaryOp does not say so
    return {"whitespace_before": operator.whitespace_before, "whitespace_after": operator.whitespace_after}


def _multiply(node: cst.BinaryOperation) -> cst.Multiply:
    return cst.Multiply(**_spacing(node))


def _divide(node: cst.BinaryOperation) -> cst.Divide:
    return cst.Divide(**_spacing(node))


def scale_site(context: SiteContext, node: cst.CSTNode) -> ScaleSite | None:
    """The scale applied at ``node`` (a binary operation or an argument), or ``None``."""
    if isinstance(node, cst.Arg):
        return _sdpa_scale(context, node)
    if not isinstance(node, cst.BinaryOperation) or _in_initialization(context):
        return None
    if isinstance(node.operator, cst.Divide) and is_sqrt_like(node.right) and not _root_of_sum(node.right):
        if not (_scores_like(node.left) or _head_size(node.right)) or m.matches(
            node.left, m.Float() | m.Integer()
        ):
            return None
        return ScaleSite(node.left, node.with_changes(operator=_multiply(node)))
    if isinstance(node.operator, cst.Power) and _negative_half(node.right):
        return _definition(context, node)
    if not isinstance(node.operator, cst.Multiply):
        return None
    factor = node.right
    if _inverse_root(factor):
        if not (_scores_like(node.left) or _head_size(factor)):
            return None
        assert isinstance(factor, cst.BinaryOperation)
        if isinstance(factor.operator, cst.Power):
            return ScaleSite(node.left, node.with_changes(right=_with_power(factor, positive=True)))
        return ScaleSite(node.left, node.with_changes(right=factor.with_changes(operator=_multiply(factor))))
    if isinstance(factor, cst.BinaryOperation) and factor.lpar and isinstance(factor.operator, cst.Divide):
        inner = factor.with_changes(lpar=[], rpar=[])
        if _inverse_root(inner) and (_scores_like(node.left) or _head_size(inner)):
            return ScaleSite(
                node.left, node.with_changes(right=factor.with_changes(operator=_multiply(factor)))
            )
    named = _named_scale(context, factor)
    if named is not None and _scores_like(node.left):
        assert isinstance(named, cst.BinaryOperation)
        if m.matches(named.right, m.UnaryOperation(expression=m.Float("0.25"))):
            # whisper scales q and k by d ** -0.25 each: one of them alone is half the scale
            return ScaleSite(
                node.left, None, "scale only the keys (or only the queries): scores by d_k ** -0.25"
            )
        return ScaleSite(node.left, node.with_changes(operator=_divide(node)))
    return None


def _definition(context: SiteContext, power: cst.BinaryOperation) -> ScaleSite | None:
    """``self.scale = head_dim ** -0.5``: the scale defined, in attention code."""
    parent = context.parent
    if not isinstance(parent, (cst.Assign, cst.AnnAssign)):
        return None
    targets = [t.target for t in parent.targets] if isinstance(parent, cst.Assign) else [parent.target]
    if not any(code(t).split(".")[-1] in _SCALE_NAMES for t in targets) or not _head_size(power.left):
        return None
    return ScaleSite(cst.Float("1.0"), _with_power(power, positive=True))


def _sdpa_scale(context: SiteContext, arg: cst.Arg) -> ScaleSite | None:
    """``scale=`` of ``scaled_dot_product_attention`` (or a flash kernel's ``softmax_scale=``)."""
    if arg.keyword is None or arg.keyword.value not in ("scale", "softmax_scale"):
        return None
    call = context.parent
    callee = (callee_name(call) or "") if isinstance(call, cst.Call) else ""
    if "attention" not in callee and "flash" not in callee:
        return None
    value = arg.value
    if m.matches(value, m.Name("None")):
        return None
    if (
        isinstance(value, cst.BinaryOperation)
        and isinstance(value.operator, cst.Power)
        and _negative_half(value.right)
    ):
        return ScaleSite(
            arg.with_changes(value=cst.Float("1.0")),
            arg.with_changes(value=_with_power(value, positive=True)),
        )
    inverse = cst.BinaryOperation(
        cst.Integer("1"),
        cst.Divide(),
        value
        if not isinstance(value, cst.BinaryOperation)
        else value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]),
    )
    return ScaleSite(arg.with_changes(value=cst.Float("1.0")), arg.with_changes(value=inverse))


def class_example(scaled_query: str, *, site: int) -> Example:
    """An attention class whose queries are scaled by ``self.scale``, the query line becoming
    ``q = <scaled_query>`` at ``site``: an example of both scale mutators."""
    before = (
        "class Attention(nn.Module):\n"
        "    def __init__(self, dim, num_heads):\n"
        "        self.scale = (dim // num_heads) ** -0.5\n"
        "    def forward(self, q, k):\n"
        "        q = {}\n"
        "        return q @ k.transpose(-2, -1)\n"
    )
    return Example(before.format("q * self.scale"), before.format(scaled_query), site=site)


#: the near misses of both scale mutators: norms, initializations, a scale left to its default
NOT_A_SCALE = (
    "y = (x - mean) / torch.sqrt(var + eps)\n",
    "y = x / 2\n",
    "torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))\n",
    "std = dim ** -0.5\n",
    "nn.init.trunc_normal_(self.pos_embed, std=embed_dim ** -0.5)\n",
    "y = F.scaled_dot_product_attention(q, k, v, scale=None)\n",
)
