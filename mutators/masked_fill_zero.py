from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, Rewrite, SiteContext

from ._attention import is_minus_infinity_fill, masked_fill_args, where_fill_args
from ._context import code, in_sampling_code, reads_attention, words
from ._patterns import argument, callee_name, replace_arg
from ._state import is_torch_call


class MaskedFillZero(Mutator):
    """Masked attention scores are filled with 0 instead of minus infinity.

    A score of 0 is not "no attention": after the softmax it weighs exp(0) = 1, as much as
    an average key, so padding and future positions keep a share of every query's attention.
    The habit comes from masking *weights* after the softmax (where 0 is right) or from a
    ``masked_fill(mask, 0)`` used for losses. Nothing crashes; the model leaks a little
    information from masked positions and cannot be trusted at inference. Only fills that stand
    for minus infinity are sites (``-inf``, ``-1e9``, ``finfo.min``): a fill that already is 0
    is the correct way to mask weights after the softmax. The additive mask builders
    ``torch.empty(T, T).fill_(-inf).triu_(1)`` and ``torch.full((T, T), -inf).triu(1)`` are sites
    too (the future is then not masked at all); in sampling code the same fill removes the
    filtered tokens, and the bug is named for that.
    """

    bug_id = "masked_fill_zero"
    components = ("attention", "gqa", "sampling")
    category = Category.NUMERICS
    layer = Layer.SHAPES
    description = "fill masked attention scores with 0 instead of -inf"
    symptom = "the model still attends to padding and the future; train and inference outputs differ"
    hint = "after the softmax, the weights at masked positions should be exactly 0"
    fix = "fill masked scores with float('-inf') (or torch.finfo(dtype).min) before the softmax"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("s = s.masked_fill(~m, float('-inf'))\n", "s = s.masked_fill(~m, 0.0)\n"),
        Example("s = s.masked_fill(m == 0, value=-1e9)\n", "s = s.masked_fill(m == 0, value=0.0)\n"),
        Example(
            "s = torch.where(keep, s, torch.finfo(s.dtype).min)\n",
            "s = torch.where(keep, s, 0.0)\n",
        ),
        Example(
            "mask = torch.empty(n_ctx, n_ctx).fill_(-np.inf).triu_(1)\n",
            "mask = torch.empty(n_ctx, n_ctx).fill_(0.0).triu_(1)\n",
        ),
        Example(
            "mask = torch.triu(torch.full((t, t), float('-inf')), diagonal=1)\n",
            "mask = torch.triu(torch.full((t, t), 0.0), diagonal=1)\n",
        ),
    )
    UNCHANGED = (
        "w = w.masked_fill(~m, 0.0)\n",
        "s = s.masked_fill(m, -1.0)\n",
        "y = torch.where(c, a, b)\n",
        "x = torch.full((n,), -1e9)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement | Rewrite]:
        assert isinstance(node, cst.Call)
        found = masked_fill_args(node) or where_fill_args(node)
        if found is None:
            built = _mask_builder_fill(self.context, node)
            if built is None:
                return ()
            index, arg = built
            return (Rewrite(replace_arg(node, index, cst.Float("0.0")), _BUILDER),)
        _mask, (index, arg) = found
        if not is_minus_infinity_fill(arg.value):
            return ()
        zeroed = replace_arg(node, index, cst.Float("0.0"))
        context = self.context
        filled = node.func.value if isinstance(node.func, cst.Attribute) else node
        if in_sampling_code(context) and not reads_attention(context, filled):
            return (
                Rewrite(zeroed, "filtered logits set to 0 instead of -inf: removed tokens keep probability"),
            )
        return (zeroed,)


_BUILDER = "build the additive causal mask with 0 instead of -inf: the future is not masked"


def _mask_builder_fill(context: SiteContext, call: cst.Call) -> tuple[int, cst.Arg] | None:
    """The -inf of ``x.fill_(-inf)`` or ``torch.full(shape, -inf)`` taken into a triangle
    (``.triu_(1)`` chained on it, ``triu(torch.full(...))``) or stored as a mask."""
    if not _becomes_mask(context):
        return None
    if callee_name(call) == "fill_" and isinstance(call.func, cst.Attribute) and len(call.args) == 1:
        found: tuple[int, cst.Arg] | None = (0, call.args[0])
    elif is_torch_call(call, ("full",)):
        found = argument(call, keyword="fill_value", position=1)
    else:
        return None
    if found is None or not is_minus_infinity_fill(found[1].value):
        return None
    return found


def _becomes_mask(context: SiteContext) -> bool:
    parent = context.parent
    grand = context.ancestors[1] if len(context.ancestors) > 1 else None
    if isinstance(parent, cst.Attribute) and isinstance(grand, cst.Call):
        if callee_name(grand) in _TRIANGLES:
            return True
    if isinstance(parent, cst.Arg) and isinstance(grand, cst.Call) and callee_name(grand) in _TRIANGLES:
        return True
    assign = context.enclosing(cst.Assign)
    return isinstance(assign, cst.Assign) and any(
        words(code(t.target)) & {"mask", "bias"} for t in assign.targets
    )


_TRIANGLES = ("triu", "triu_", "tril", "tril_")
