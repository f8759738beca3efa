from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import same_code
from ._patterns import argument, callee_name


class NucleusNotUnsorted(Mutator):
    """The top-p removal mask, computed in sorted order, is applied in vocabulary order.

    The nucleus is found on the sorted probabilities, so the mask says "the i-th most probable
    token", not "token i". It has to be scattered back (``mask.scatter(1, sorted_indices,
    mask)``); without that, the tokens removed are whichever token ids happen to sit at the
    sorted positions: likely tokens are dropped and unlikely ones kept, differently for every
    row. Sites: ``x.scatter(dim, index, x)``, which scatters a mask onto itself.
    """

    bug_id = "nucleus_not_unsorted"
    components = ("sampling",)
    category = Category.SHAPES
    layer = Layer.EVALUATION
    description = "apply the top-p mask in sorted order without scattering it back to token order"
    symptom = "top-p sampling drops likely tokens and keeps unlikely ones; text is incoherent"
    hint = "after top-p filtering, is the argmax token still finite?"
    fix = "map the mask back: remove = sorted_remove.scatter(-1, sorted_indices, sorted_remove)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "to_remove = sorted_to_remove.scatter(1, sorted_indices, sorted_to_remove)\n",
            "to_remove = sorted_to_remove\n",
        ),
        Example(
            "outside = outside.scatter(-1, sorted_indices, outside)\n",
            "outside = outside\n",
        ),
    )
    UNCHANGED = ("y = x.scatter(1, idx, src)\n", "y = torch.zeros_like(x).scatter(1, idx, x)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if callee_name(node) != "scatter" or not isinstance(node.func, cst.Attribute):
            return ()
        source = argument(node, keyword="src", position=2)
        if source is None or not same_code(source[1].value, node.func.value):
            return ()
        return (node.func.value,)
