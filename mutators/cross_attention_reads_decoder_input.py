from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import positional_args
from ._context import words
from ._patterns import callee_name

#: words of a callee that name an attention block
_ATTENTION_WORDS = frozenset(("attn", "attention", "mha", "multihead"))


class CrossAttentionReadsDecoderInput(Mutator):
    """Cross-attention takes its keys and values from the decoder stream instead of the encoder
    output: ``attn(h, memory, memory)`` becomes ``attn(h, h, h)``.

    A copy of the self-attention line with only the module name changed. With equal source and
    target lengths nothing fails: the decoder simply never sees the source, trains as a language
    model of the targets and produces fluent output unrelated to the input. Sites: a call of an
    attention block (its name says ``attn``, ``attention`` or ``mha``) whose first
    three positional arguments read ``(a, b, b)`` with ``a`` different from ``b``, the shape of
    every query/key/value attention call that reads a second sequence; and a two-argument call
    ``cross_attn(x, memory)`` of a block named for cross-attention, as whisper writes it.
    """

    bug_id = "cross_attention_reads_decoder_input"
    components = ("decoder",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "cross-attention attends to the decoder input instead of the encoder output"
    symptom = "fluent output that ignores the source; the loss matches a target-only language model"
    hint = "check what cross-attention uses as keys and values"
    fix = "cross_attn(norm2(x), encoder_output, encoder_output, mask=cross_attn_mask)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "y = self.cross_attn(h, memory, memory, mask=m)\n",
            "y = self.cross_attn(h, h, h, mask=m)\n",
        ),
        Example("y = attn(self.ln(x), enc, enc)[0]\n", "y = attn(self.ln(x), self.ln(x), self.ln(x))[0]\n"),
        Example(
            "x = x + self.cross_attn(self.cross_attn_ln(x), xa, kv_cache=kv_cache)[0]\n",
            "x = x + self.cross_attn(self.cross_attn_ln(x), self.cross_attn_ln(x), kv_cache=kv_cache)[0]\n",
        ),
    )
    UNCHANGED = (
        "y = self.self_attn(h, h, h, mask=m)\n",
        "y = f(a, b, c)\n",
        "y = f(a, b)\n",
        "y = output.unfold(0, factor, factor)\n",
        "y = self.attn(x, xa)\n",
        "bce = F.binary_cross_entropy(recon_x, x, reduction='sum')\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        callee = words(callee_name(node) or "")
        if not callee & _ATTENTION_WORDS:
            return ()
        positional = positional_args(node)
        if len(positional) == 2 and "cross" in callee:
            query, memory = positional
            if query.value.deep_equals(memory.value):
                return ()
            args = [a.with_changes(value=query.value) if a is memory else a for a in node.args]
            return (node.with_changes(args=args),)
        if len(positional) < 3:
            return ()
        query, key, value = positional[:3]
        if not key.value.deep_equals(value.value) or query.value.deep_equals(key.value):
            return ()
        args = [a.with_changes(value=query.value) if a is key or a is value else a for a in node.args]
        return (node.with_changes(args=args),)
