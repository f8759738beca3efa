from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._patterns import callee_name, dotted_name
from pytest_mlbugs.mutators._state import FACTORIES, is_torch_call, keyword, without_arg


class CausalMaskNotBool(Mutator):
    """The mask is left as a float 0/1 tensor instead of a boolean one.

    ``torch.tril(torch.ones(T, T))`` is float. ``scaled_dot_product_attention`` reads a float
    mask as an *additive* bias, so "1 = may attend, 0 = blocked" becomes "add 1 to the
    allowed scores": nothing is masked at all. Hand-written attention fails on ``~mask`` or
    ``masked_fill`` instead. Sites: ``dtype=torch.bool`` in a factory call (dropped) and a
    ``.bool()`` conversion (dropped).
    """

    bug_id = "causal_mask_not_bool"
    components = ("masks",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "leave the mask as float 0/1 instead of bool (SDPA then adds it to the scores)"
    symptom = "the model reads the future although a mask is passed; or ~mask raises a TypeError"
    hint = "print mask.dtype: boolean masks mean 'may attend', float masks are added to the scores"
    fix = "torch.tril(torch.ones(T, T, dtype=torch.bool)) or .bool() on the result"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "m = torch.tril(torch.ones(t, t, dtype=torch.bool))\n",
            "m = torch.tril(torch.ones(t, t))\n",
        ),
        Example("m = torch.tril(torch.ones(t, t)).bool()\n", "m = torch.tril(torch.ones(t, t))\n"),
    )
    UNCHANGED = ("m = torch.ones(t, dtype=dtype)\n", "m = x.to(torch.bool)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if callee_name(node) == "bool" and not node.args and isinstance(node.func, cst.Attribute):
            return (node.func.value,)
        if not is_torch_call(node, FACTORIES):
            return ()
        found = keyword(node, "dtype")
        if found is None or dotted_name(found[1].value) != "torch.bool":
            return ()
        return (without_arg(node, found[0]),)
