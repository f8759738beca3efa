from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_layers import without_argument
from ._patterns import argument, callee_name, dotted_name, int_literal


class CausalMaskNotOffsetByCache(Mutator):
    """The causal mask of queries after a cache is built as if the queries started at position 0.

    With ``past_len`` cached positions the new query ``t`` sits at ``past_len + t`` and may read
    keys ``0..past_len + t``: the mask is ``tril(ones(T, S), diagonal=past_len)`` (or its blocked
    form ``triu(..., diagonal=past_len + 1)``). Without the offset, a new token may read only
    the first few cached keys. Without a cache the offset is zero, so a full pass, training and
    tests without a cache are exactly right; generation with a cache is garbage. Sites:
    ``tril``/``triu`` calls whose diagonal is not a literal; it becomes 0 (``tril``) or 1
    (``triu``).
    """

    bug_id = "causal_mask_not_offset_by_cache"
    components = ("gqa",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "the causal mask ignores the cached positions: new queries masked as if they started at 0"
    symptom = "generation with a KV cache is garbage although a full forward pass is right"
    hint = "print the mask for 2 new tokens after 3 cached ones: the first new row must allow 4 keys"
    fix = "mask = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "causal = torch.ones(t, s, dtype=torch.bool).tril(diagonal=past_len)\n",
            "causal = torch.ones(t, s, dtype=torch.bool).tril()\n",
        ),
        Example(
            "mask = torch.triu(mask, diagonal=start_pos + 1)\n",
            "mask = torch.triu(mask, diagonal=1)\n",
        ),
        Example("m = torch.tril(ones, kv_len - q_len)\n", "m = torch.tril(ones)\n"),
    )
    UNCHANGED = ("m = torch.tril(ones)\n", "m = torch.triu(ones, diagonal=1)\n", "m = ones.tril(-1)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        name = callee_name(node)
        if name not in ("tril", "triu", "tril_", "triu_") or not isinstance(node.func, cst.Attribute):
            return ()
        function_form = dotted_name(node.func.value) == "torch"
        found = argument(node, keyword="diagonal", position=1 if function_form else 0)
        if found is None or int_literal(found[1].value) is not None:
            return ()
        index, arg = found
        if name.startswith("tril"):
            return (without_argument(node, index),)
        args = list(node.args)
        args[index] = arg.with_changes(value=cst.Integer("1"))
        return (node.with_changes(args=args),)
