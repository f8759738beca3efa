from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._attention import is_minus_infinity_fill, masked_fill_args, where_fill_args
from pytest_mlbugs.mutators._patterns import replace_arg


class MaskedFillZero(Mutator):
    """Masked attention scores are filled with 0 instead of minus infinity.

    A score of 0 is not "no attention": after the softmax it weighs exp(0) = 1, as much as
    an average key, so padding and future positions keep a share of every query's attention.
    The habit comes from masking *weights* after the softmax (where 0 is right) or from a
    ``masked_fill(mask, 0)`` used for losses. Nothing crashes; the model leaks a little
    information from masked positions and cannot be trusted at inference. Only fills that stand
    for minus infinity are sites (``-inf``, ``-1e9``, ``finfo.min``): a fill that already is 0
    is the correct way to mask weights after the softmax.
    """

    bug_id = "masked_fill_zero"
    components = ("attention", "sampling")
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
    )
    UNCHANGED = ("w = w.masked_fill(~m, 0.0)\n", "s = s.masked_fill(m, -1.0)\n", "y = torch.where(c, a, b)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        found = masked_fill_args(node) or where_fill_args(node)
        if found is None:
            return ()
        _mask, (index, arg) = found
        if not is_minus_infinity_fill(arg.value):
            return ()
        return (replace_arg(node, index, cst.Float("0.0")),)
