from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm import cached_concatenation


class PastKvConcatenatedInWrongOrder(Mutator):
    """The new keys and values are put before the cached ones: ``cat([k, past_k])``.

    Attention without a mask does not care about the order of keys, so single-token decoding
    still produces the right tokens and nothing looks wrong; but the cache handed on is out of
    order (the newest positions first), so the causal mask of a later multi-token step, a sliding
    window or any code that reads ``cache[..., -1, :]`` as the last position works on the wrong
    keys. Sites: a ``torch.cat`` of a cached tensor with a new one, cache first.
    """

    bug_id = "past_kv_concatenated_in_wrong_order"
    components = ("gqa",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "new keys/values are prepended to the cache instead of appended"
    symptom = "chunked prefill or speculative decoding goes wrong while token-by-token generation looks fine"
    hint = "after two calls, is cache[..., -1, :] the key of the last token?"
    fix = "k = torch.cat([past_k, k], dim=2): the cache first, the new positions after it"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("k = torch.cat([past_k, k], dim=2)\n", "k = torch.cat([k, past_k], dim=2)\n"),
        Example(
            "key = torch.cat((layer_past[0], key), dim=-2)\n",
            "key = torch.cat((key, layer_past[0]), dim=-2)\n",
        ),
    )
    UNCHANGED = (
        "x = torch.cat([a, b], dim=2)\n",
        "k = torch.cat([k, past_k], dim=2)\n",
        # the causal mask's zero block over the cached positions, not the cache
        "mask = torch.cat([torch.zeros(seq_len, past_len, dtype=dtype), mask], dim=-1)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if cached_concatenation(node) is None:
            return ()
        pair = node.args[0].value
        assert isinstance(pair, (cst.List, cst.Tuple))
        first, second = pair.elements
        swapped = [second.with_changes(comma=first.comma), first.with_changes(comma=second.comma)]
        return (
            node.with_changes(
                args=[node.args[0].with_changes(value=pair.with_changes(elements=swapped)), *node.args[1:]]
            ),
        )
