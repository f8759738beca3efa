from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_layers import without_argument
from ._patterns import callee_name, int_literal

_OFFSET_KEYWORDS = ("start_pos", "offset", "input_pos", "position_offset", "seqlen_offset", "start")


def _is_rotary(call: cst.Call) -> bool:
    name = (callee_name(call) or "").lower()
    return any(part in name for part in ("rot", "rope"))


def _names_an_offset(expr: cst.BaseExpression) -> bool:
    """``start_pos``, ``past_len``, ``offset``: a position offset by its name (not ``max_seq_len``)."""
    if not isinstance(expr, cst.Name):
        return False
    name = expr.value.lower()
    return "max" not in name and any(word in name for word in ("pos", "past", "offset", "start", "cached"))


class RopeNotOffsetByCache(Mutator):
    """Attention with a KV cache rotates the new queries or keys from position 0.

    The tokens of a decoding step sit after the ``past_len`` cached ones; the rotary call must
    be told (``self.rotary(k, start_pos=past_len)``, ``offset=``, ``input_pos=``). Dropped, a
    full forward pass is exactly right (there the offset is 0), so training and every test
    without a cache pass, while generation sees each new key as if it were the first token and
    degrades after the prompt. Sites: a rotary call given a position offset, by keyword or as
    its second argument; the offset is dropped.
    """

    bug_id = "rope_not_offset_by_cache"
    components = ("gqa",)
    category = Category.DATA
    layer = Layer.SHAPES
    description = "new queries/keys are rotated from position 0 instead of after the cached positions"
    symptom = "generation with a KV cache is garbage after the prompt while a full forward pass is fine"
    hint = "feed a sequence in two pieces through the cache and compare with one full pass"
    fix = "q = self.rotary(q, start_pos=past_len); k = self.rotary(k, start_pos=past_len)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("k = self.rotary(k, start_pos=past_len)\n", "k = self.rotary(k)\n"),
        Example("q = self.rotary_emb(q, offset=start_pos)\n", "q = self.rotary_emb(q)\n"),
        Example("xq = apply_rope(xq, past_length)\n", "xq = apply_rope(xq)\n"),
    )
    UNCHANGED = (
        "k = self.rotary(k)\n",
        "k = self.rotary(k, start_pos=0)\n",
        "y = self.proj(x, offset=n)\n",
        "cos, sin = rope_cache(self.head_dim, max_seq_len)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if not _is_rotary(node):
            return ()
        args = list(node.args)
        for index, arg in enumerate(args):
            offset = (
                arg.keyword.value in _OFFSET_KEYWORDS
                if arg.keyword is not None
                else index == 1 and len(args) == 2 and _names_an_offset(arg.value)
            )
            if offset and int_literal(arg.value) is None:
                return (without_argument(node, index),)
        return ()
