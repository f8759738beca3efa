from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm import is_cache_name
from ._llm_layers import without_argument
from ._patterns import callee_name


class CacheNotPassedToAttention(Mutator):
    """A block calls its attention without the key/value cache it was given.

    ``self.attention(self.attention_norm(x), past_kv)`` loses its cache argument: every call
    attends only to the tokens it is given. A full forward pass (training, evaluation, every test
    without a cache) is exactly right; generation with a cache sees only the current token and
    produces garbage after the prompt, while the cache the block returns looks plausible. Sites:
    an argument that is a cache (``past_kv``, ``past_key_value=``, ``layer_past``, ``kv_cache``)
    in a call of an attention module (a name containing ``attn`` or ``attention``).
    """

    bug_id = "cache_not_passed_to_attention"
    components = ("llama_block",)
    category = Category.STATE_DEVICE
    layer = Layer.SHAPES
    description = "the block calls its attention without the key/value cache"
    symptom = "generation with a KV cache is garbage after the prompt while a full forward pass is fine"
    hint = "feed a sequence in two pieces through the cache and compare with one full pass"
    fix = "attended, new_past_kv = self.attention(self.attention_norm(x), past_kv)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "h, new_kv = self.attention(self.attention_norm(x), past_kv)\n",
            "h, new_kv = self.attention(self.attention_norm(x))\n",
        ),
        Example(
            "out = self.self_attn(hidden_states=h, past_key_value=past_key_value, use_cache=True)\n",
            "out = self.self_attn(hidden_states=h, use_cache=True)\n",
        ),
        Example("a = self.attn(self.ln_1(x), layer_past=layer_past)\n", "a = self.attn(self.ln_1(x))\n"),
        Example(
            "h, _ = self.self_attn(\n    hidden_states=h,\n    past_key_value=past,\n    mask=m,\n)\n",
            "h, _ = self.self_attn(\n    hidden_states=h,\n    mask=m,\n)\n",
        ),
    )
    UNCHANGED = ("h = self.attention(x)\n", "h = self.attention_norm(x)\n", "h = self.mlp(x, cache)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        name = (callee_name(node) or "").lower()
        if "attn" not in name and "attention" not in name:
            return ()
        for index, arg in enumerate(node.args):
            label = arg.keyword.value if arg.keyword is not None else None
            if label is None and isinstance(arg.value, cst.Name):
                label = arg.value.value
            if index == 0 or label is None or not is_cache_name(label):
                continue
            return (without_argument(node, index),)
        return ()
