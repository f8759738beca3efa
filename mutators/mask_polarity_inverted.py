from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, Rewrite

from ._attention import masked_fill_args, stands_for_minus_infinity, where_fill_args
from ._context import in_sampling_code, reads_attention
from ._patterns import callee_name, replace_arg

_ATOMIC = (cst.Name, cst.Attribute, cst.Call, cst.Subscript)
_BOOLEAN_LITERAL = m.Integer("0") | m.Integer("1") | m.Name("True") | m.Name("False")


def inverted(condition: cst.BaseExpression) -> cst.BaseExpression:
    """The negation of a mask expression, written the way a person would slip."""
    if m.matches(condition, m.UnaryOperation(operator=m.BitInvert())):
        assert isinstance(condition, cst.UnaryOperation)
        return condition.expression.with_changes(lpar=condition.lpar, rpar=condition.rpar)
    if (
        isinstance(condition, cst.Call)
        and callee_name(condition) == "logical_not"
        and len(condition.args) == 1
    ):
        return condition.args[0].value
    equality = m.Comparison(
        comparisons=[m.ComparisonTarget(operator=m.Equal() | m.NotEqual(), comparator=_BOOLEAN_LITERAL)]
    )
    if m.matches(condition, equality):
        assert isinstance(condition, cst.Comparison)
        target = condition.comparisons[0]
        operator = target.operator
        assert isinstance(operator, (cst.Equal, cst.NotEqual))
        flipped = (
            cst.NotEqual(
                whitespace_before=operator.whitespace_before, whitespace_after=operator.whitespace_after
            )
            if isinstance(operator, cst.Equal)
            else cst.Equal(
                whitespace_before=operator.whitespace_before, whitespace_after=operator.whitespace_after
            )
        )
        return condition.with_changes(comparisons=[target.with_changes(operator=flipped)])
    if isinstance(condition, _ATOMIC) or condition.lpar:
        return cst.UnaryOperation(operator=cst.BitInvert(), expression=condition)
    return cst.UnaryOperation(
        operator=cst.BitInvert(),
        expression=condition.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]),
    )


_ELSEWHERE = "mask applied inverted: the fill lands on the positions it should leave alone"


class MaskPolarityInverted(Mutator):
    """The attention mask is applied with the opposite polarity: allowed positions are hidden
    and forbidden ones are kept.

    Two conventions live side by side in PyTorch: ``scaled_dot_product_attention`` takes
    True = may attend, ``nn.MultiheadAttention`` and ``masked_fill`` want True = blocked, and
    integer masks use 1 = keep. Code copied between them flips ``~mask`` to ``mask`` or
    ``mask == 0`` to ``mask != 0``. With a causal mask the model now sees only the future; with
    a padding mask it attends only to padding. A row left with no allowed key turns into NaN, but
    a mask where every row keeps a key and loses one trains on quietly. Every ``masked_fill``
    and every ``torch.where`` that fills with minus infinity is a site. The bug is named for
    where it is: a top-k/top-p/min-p filter in sampling code that removes the tokens it should
    keep, or a fill other than minus infinity (padding after the end of a sequence, an
    ``ignore_index``, zeroed outputs) that lands on the positions it should leave alone.
    """

    bug_id = "mask_polarity_inverted"
    components = ("attention", "gqa", "sampling", "collate")
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "apply the attention mask inverted (hide the allowed keys, keep the blocked ones)"
    symptom = "loss suspiciously low in training and garbage generation, or NaN in rows with all keys hidden"
    hint = "print the mask next to the scores after masking: are the -inf where attending is forbidden?"
    fix = "fill where the mask forbids attending: masked_fill(~allowed, -inf) with True = may attend"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "s = s.masked_fill(~mask, float('-inf'))\n",
            "s = s.masked_fill(mask, float('-inf'))\n",
        ),
        Example("s = s.masked_fill(mask == 0, -1e9)\n", "s = s.masked_fill(mask != 0, -1e9)\n"),
        Example("s.masked_fill_(pad, -1e9)\n", "s.masked_fill_(~pad, -1e9)\n"),
        Example(
            "s = torch.masked_fill(s, a & b, -math.inf)\n",
            "s = torch.masked_fill(s, ~(a & b), -math.inf)\n",
        ),
        Example(
            "s = torch.where(keep, s, torch.finfo(s.dtype).min)\n",
            "s = torch.where(~keep, s, torch.finfo(s.dtype).min)\n",
        ),
    )
    UNCHANGED = ("y = torch.where(c, a, b)\n", "y = x.fill_(0)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement | Rewrite]:
        assert isinstance(node, cst.Call)
        found = masked_fill_args(node) or where_fill_args(node)
        if found is None:
            return ()
        (index, arg), (_, fill) = found
        flipped = replace_arg(node, index, inverted(arg.value))
        context = self.context
        if not stands_for_minus_infinity(context, fill.value):
            return (Rewrite(flipped, _ELSEWHERE),)
        filled = node.func.value if isinstance(node.func, cst.Attribute) else node
        if in_sampling_code(context) and not reads_attention(context, filled):
            return (Rewrite(flipped, "sampling filter inverted: it removes the tokens it should keep"),)
        return (flipped,)
