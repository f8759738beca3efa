from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm import is_plus, position_arange, table_slice, with_bounds, with_slice
from ._patterns import int_literal


def _length(lower: cst.BaseExpression, upper: cst.BaseExpression) -> cst.BaseExpression:
    """``n`` when ``upper`` is ``lower + n``; ``upper - lower`` otherwise."""
    added = is_plus(upper, lower)
    if added is not None:
        return added.with_changes(lpar=[], rpar=[])
    return cst.BinaryOperation(upper, cst.Subtract(), lower)


def _offset(bound: cst.BaseExpression | None) -> bool:
    return bound is not None and int_literal(bound) is None


class RopeStartPosIgnored(Mutator):
    """Rotary embeddings ignore the position offset: new tokens are rotated as positions 0..T-1.

    With a KV cache, the tokens of a decoding step sit after the cached ones; their rotation must
    start at ``start_pos`` (``past_length``, ``input_pos``). Slicing ``cos[:T]`` instead, or
    counting positions from zero, rotates every new token as if it were the first: a full
    forward pass (and so training and every test without a cache) is exactly right, and
    generation degrades after the prompt. Sites: a slice of a rotary table whose start is not a
    literal, and a positions ``arange`` from a non-literal start; both keep only the length.
    """

    bug_id = "rope_start_pos_ignored"
    components = ("rope",)
    category = Category.DATA
    layer = Layer.SHAPES
    description = "rotary embedding ignores start_pos: new tokens rotated as positions 0..T-1 under a cache"
    symptom = "generation with a KV cache is garbage after the prompt while a full forward pass is fine"
    hint = "rotate rows s..s+t with start_pos=s and compare with slicing a full pass"
    fix = "cos = self.cos[start_pos : start_pos + seq_len]"
    node_types = (cst.Subscript, cst.SimpleStatementLine)
    EXAMPLES = (
        Example("cos = self.cos[start_pos : start_pos + seq_len]\n", "cos = self.cos[:seq_len]\n"),
        Example("sin = sin_cached[offset:end]\n", "sin = sin_cached[:end - offset]\n"),
        Example(
            "position_ids = torch.arange(past_key_values_length, seq_length + past_key_values_length)\n",
            "position_ids = torch.arange(seq_length)\n",
        ),
    )
    UNCHANGED = ("cos = self.cos[:seq_len]\n", "cos = self.cos[0:n]\n", "t = torch.arange(n)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.Subscript):
            found = table_slice(node)
            if found is None:
                return ()
            index, lower, upper = found
            if not _offset(lower) or upper is None:
                return ()
            assert lower is not None
            return (with_slice(node, index, None, _length(lower, upper)),)
        arange = position_arange(node)
        if arange is None:
            return ()
        call, bounds = arange
        if len(bounds) != 2 or not _offset(bounds[0].value):
            return ()
        return (with_bounds(node, call, [_length(bounds[0].value, bounds[1].value)]),)
