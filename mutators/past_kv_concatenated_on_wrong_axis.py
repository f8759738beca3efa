from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm import cached_concatenation
from ._patterns import int_node


class PastKvConcatenatedOnWrongAxis(Mutator):
    """New keys and values are appended to the cache on the heads axis instead of the sequence axis.

    A cache of shape ``(B, H, T, D)`` grows along axis 2 (``-2``); ``dim=1`` is the axis of
    ``(B, T, H, D)`` layouts, and code converted from one layout to the other keeps the old
    number. The first call has no cache and is right, so a full forward pass and training are
    fine; the first decoding step with a cache then fails on a shape mismatch (or, with one head,
    silently attends to a cache that never grows). Sites: a ``torch.cat`` of a cached tensor
    (``past_k``, ``past_key_value[0]``, ``layer_past``...) with a new one along the sequence
    axis of a ``(B, H, T, D)`` cache; it moves to the heads axis.
    """

    bug_id = "past_kv_concatenated_on_wrong_axis"
    components = ("gqa",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "the key/value cache is extended on the heads axis instead of the sequence axis"
    symptom = "the first decoding step with a cache fails on a shape mismatch; a full forward pass is fine"
    hint = "print k.shape after appending one token to a cache of length 5: which axis grew?"
    fix = "k = torch.cat([past_k, k], dim=2) for (B, H, T, D)"
    loud = True
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("k = torch.cat([past_k, k], dim=2)\n", "k = torch.cat([past_k, k], dim=1)\n"),
        Example(
            "key = torch.cat((past_key, key), dim=-2)\n",
            "key = torch.cat((past_key, key), dim=-3)\n",
        ),
        Example(
            "key_states = torch.cat([past_key_value[0], key_states], dim=2)\n",
            "key_states = torch.cat([past_key_value[0], key_states], dim=1)\n",
        ),
    )
    UNCHANGED = ("x = torch.cat([a, b], dim=2)\n", "k = torch.cat([past_k, k], dim=1)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        found = cached_concatenation(node)
        if found is None:
            return ()
        index, dim = found
        if dim not in (2, -2):
            return ()
        args = list(node.args)
        args[index] = args[index].with_changes(value=int_node(dim - 1))
        return (node.with_changes(args=args),)
