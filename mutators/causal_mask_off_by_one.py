from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import argument, callee_name, int_literal, int_node, replace_arg
from ._state import with_keyword

_MODULES = ("torch", "np", "numpy")


class CausalMaskOffByOne(Mutator):
    """The causal mask's diagonal is shifted by one.

    ``tril(ones, diagonal=1)`` lets every position see the next token (training loss drops
    far below what generation achieves); ``tril(ones, diagonal=-1)`` (or the "blocked" form
    ``triu(ones, diagonal=0)``) hides a position from itself, so the first row attends to
    nothing and turns into NaN. Both come from mixing the "allowed" and the "blocked"
    convention. Every ``tril``/``triu`` call (and in-place ``tril_``/``triu_``, as in
    ``.fill_(-inf).triu_(1)``) is a site, with the diagonal moved down and up.
    """

    bug_id = "causal_mask_off_by_one"
    components = ("masks",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "shift the causal mask's diagonal by one (peek at the next token, or hide the current one)"
    symptom = "training loss far below generation quality, or NaN in the first position"
    hint = "print the mask for seq_len=3: exactly the lower triangle with the diagonal must be True"
    fix = "torch.tril(torch.ones(T, T, dtype=torch.bool)) (diagonal=0), or ~torch.triu(ones, diagonal=1)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("m = torch.tril(ones, diagonal=0)\n", "m = torch.tril(ones, diagonal=-1)\n", site=0),
        Example("m = torch.tril(ones, diagonal=0)\n", "m = torch.tril(ones, diagonal=1)\n", site=1),
        Example("m = ~torch.triu(ones, 1)\n", "m = ~torch.triu(ones, 0)\n"),
        Example("m = ones.tril()\n", "m = ones.tril(diagonal=-1)\n"),
        Example(
            "mask = torch.empty(n, n).fill_(-np.inf).triu_(1)\n",
            "mask = torch.empty(n, n).fill_(-np.inf).triu_(2)\n",
            site=1,
        ),
    )
    UNCHANGED = ("m = torch.tril(ones, diagonal=k)\n", "m = torch.ones(3, 3)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if callee_name(node) not in ("tril", "triu", "tril_", "triu_"):
            return ()
        func = node.func
        is_method = isinstance(func, cst.Attribute) and (
            not isinstance(func.value, cst.Name) or func.value.value not in _MODULES
        )
        found = argument(node, keyword="diagonal", position=0 if is_method else 1)
        if found is None:
            if (is_method and node.args) or (not is_method and len(node.args) != 1):
                return ()
            return tuple(with_keyword(node, "diagonal", int_node(shift)) for shift in (-1, 1))
        index, arg = found
        diagonal = int_literal(arg.value)
        if diagonal is None:
            return ()
        return tuple(replace_arg(node, index, int_node(diagonal + shift)) for shift in (-1, 1))
