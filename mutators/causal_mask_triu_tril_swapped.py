from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import callee_name
from ._state import rename_call

_OTHER = {"tril": "triu", "triu": "tril", "tril_": "triu_", "triu_": "tril_"}


class CausalMaskTriuTrilSwapped(Mutator):
    """The causal mask takes the upper triangle where it needs the lower one (or back).

    With "True = may attend" the mask is ``tril``; with "True = blocked" it is
    ``triu(..., diagonal=1)``. Writing one convention's function with the other's meaning
    lets every position attend only to the future: the model trains to a suspiciously low
    loss on teacher-forced data and generates garbage. Every ``tril``/``triu`` call is a site,
    the in-place ``tril_``/``triu_`` of a mask builder (``.fill_(-inf).triu_(1)``) too.
    """

    bug_id = "causal_mask_triu_tril_swapped"
    components = ("masks", "gqa")
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "build the causal mask with triu instead of tril (or the reverse)"
    symptom = "training loss is suspiciously low, generation is garbage: the model reads the future"
    hint = "print the mask for seq_len=3: row 0 must allow only column 0"
    fix = "torch.tril(torch.ones(T, T, dtype=torch.bool)) when True means 'may attend'"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("m = torch.tril(ones)\n", "m = torch.triu(ones)\n"),
        Example("m = ~ones.triu(1)\n", "m = ~ones.tril(1)\n"),
        Example(
            "mask = torch.empty(n, n).fill_(-np.inf).triu_(1)\n",
            "mask = torch.empty(n, n).fill_(-np.inf).tril_(1)\n",
        ),
    )
    UNCHANGED = ("m = torch.ones(3, 3)\n", "m = tril\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        name = callee_name(node)
        if name not in _OTHER:
            return ()
        return (rename_call(node, _OTHER[name]),)
