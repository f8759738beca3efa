from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm import is_fresh_tensor
from ._patterns import axis_argument, callee_name, int_node, neighbour_axis, replace_arg

#: words in the name of the cached half of a concatenation
_CACHED_WORDS = ("past", "cache", "cached", "prev", "previous", "old")


def _is_cached(expr: cst.BaseExpression) -> bool:
    if is_fresh_tensor(expr):
        return False
    text = cst.Module(body=[]).code_for_node(expr).lower()
    return any(word in text for word in _CACHED_WORDS)


class KvCacheConcatWrongAxis(Mutator):
    """A concatenating key/value cache appends the new positions on the wrong axis.

    ``torch.cat([past_k, k], dim=2)`` grows a ``(B, H, T, D)`` cache along the sequence; with
    another axis (``dim=1``, the heads, after a layout change from ``(B, T, H, D)``; ``-1``
    against ``-2``) it grows the heads or the features instead. A single step of decoding
    looks fine, the prompt is right, and depending on the attention code the next steps
    either fail on shapes or attend over the wrong tensor. Sites: ``torch.cat`` of two
    tensors, the first named like cached state (``past``, ``cache``, ``prev``), with a literal
    axis; it moves to the neighbouring axis.
    """

    bug_id = "kv_cache_concat_wrong_axis"
    components = ("kv_cache",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "extend a concatenating KV cache on the wrong axis (heads or features instead of positions)"
    symptom = "the first generated token is right, the next ones are garbage or fail with a shape error"
    hint = "print k_all.shape after two updates: only the sequence axis may grow"
    fix = "concatenate along the sequence axis: torch.cat([past_k, k], dim=2) for (B, H, T, D)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("k = torch.cat([past_k, k], dim=2)\n", "k = torch.cat([past_k, k], dim=1)\n"),
        Example(  # Hugging Face (legacy tuples)
            "key = torch.cat((past_key, key), dim=-2)\n",
            "key = torch.cat((past_key, key), dim=-3)\n",
        ),
        Example(  # whisper's hooks, (B, T, D)
            "cache[module] = torch.cat([cache[module], output], dim=1).detach()\n",
            "cache[module] = torch.cat([cache[module], output], dim=0).detach()\n",
        ),
    )
    UNCHANGED = (
        "x = torch.cat([a, b], dim=1)\n",
        "k = torch.cat([past_k, k], dim=axis)\n",
        "k = torch.cat([past_k, k, extra], dim=2)\n",
        # the causal mask's zero block over the cached positions (Hugging Face style)
        "mask = torch.cat([torch.zeros(seq_len, past_len), mask], dim=-1)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if callee_name(node) not in ("cat", "concat", "concatenate") or not node.args:
            return ()
        tensors = node.args[0].value
        if not isinstance(tensors, (cst.List, cst.Tuple)) or len(tensors.elements) != 2:
            return ()
        if not _is_cached(tensors.elements[0].value):
            return ()
        axis = axis_argument(node, modules=("torch",))
        if axis is None:
            return ()
        index, dim = axis
        return (replace_arg(node, index, int_node(neighbour_axis(dim))),)
