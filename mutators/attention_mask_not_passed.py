from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._attention import attention_mask_arg


class AttentionMaskNotPassed(Mutator):
    """An attention block is called without its mask: the causal mask never reaches
    self-attention, or the padding mask never reaches cross-attention.

    The layer accepts the mask and forwards it to one block but not the other, or a refactor
    drops the keyword. Without the causal mask the decoder reads the tokens it must predict:
    training loss falls to almost nothing while generation is garbage. Without the encoder
    padding mask the output depends on how much padding the batch has. Sites: the mask argument
    (a keyword whose name contains ``mask``, or a fourth positional argument named ``*mask*``) of
    a call with query, key and value arguments.
    """

    bug_id = "attention_mask_not_passed"
    components = ("decoder",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "call self- or cross-attention without its mask"
    symptom = "training loss suspiciously low but generation is garbage, or outputs change with padding"
    hint = "follow self_attn_mask and cross_attn_mask into the attention calls"
    fix = "self_attn(h, h, h, mask=self_attn_mask); cross_attn(h, memory, memory, mask=cross_attn_mask)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("y = self.self_attn(h, h, h, mask=self_attn_mask)\n", "y = self.self_attn(h, h, h)\n"),
        Example("y = self.attn(h, m, m, pad_mask)\n", "y = self.attn(h, m, m)\n"),
        Example(
            "y = self.attn(h, h, h, attn_mask=causal, need_weights=False)\n",
            "y = self.attn(h, h, h, need_weights=False)\n",
        ),
    )
    UNCHANGED = ("y = self.attn(h, h, h)\n", "s = s.masked_fill(mask, 0)\n", "y = f(a, b, c, d)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        mask = attention_mask_arg(node)
        if mask is None:
            return ()
        kept = [a for a in node.args if a is not mask]
        kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return (node.with_changes(args=kept),)
