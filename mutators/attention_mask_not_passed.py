from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, Rewrite

from ._attention import attention_mask_arg
from ._patterns import callee_name


class AttentionMaskNotPassed(Mutator):
    """An attention block is called without its mask: the causal mask never reaches
    self-attention, or the padding mask never reaches cross-attention.

    The layer accepts the mask and forwards it to one block but not the other, or a refactor
    drops the keyword. Without the causal mask the decoder reads the tokens it must predict:
    training loss falls to almost nothing while generation is garbage. Without the encoder
    padding mask the output depends on how much padding the batch has. Sites: the mask argument
    (a keyword whose name contains ``mask``, or a fourth positional argument named ``*mask*``) of
    a call with query, key and value arguments, unless it is ``None`` (its default: dropping it
    changes nothing); and the ``is_causal=True`` (or a flag) of ``scaled_dot_product_attention``,
    the causal mask of the fused kernel.
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
        Example(
            "y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=True)\n",
            "y = F.scaled_dot_product_attention(q, k, v, attn_mask=None)\n",
        ),
    )
    UNCHANGED = (
        "y = self.attn(h, h, h)\n",
        "s = s.masked_fill(mask, 0)\n",
        "y = f(a, b, c, d)\n",
        "y = F.scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement | Rewrite]:
        assert isinstance(node, cst.Call)
        found: list[Replacement | Rewrite] = []
        mask = attention_mask_arg(node)
        if mask is not None and not m.matches(mask.value, m.Name("None")):
            found.append(_without(node, mask))
        if "attention" in (callee_name(node) or ""):
            for arg in node.args:
                if m.matches(arg, m.Arg(keyword=m.Name("is_causal"))) and not m.matches(
                    arg.value, m.Name("False") | m.Name("None")
                ):
                    found.append(Rewrite(_without(node, arg), _NOT_CAUSAL))
        return found


_NOT_CAUSAL = "call scaled_dot_product_attention without is_causal=True: every position reads the future"


def _without(call: cst.Call, dropped: cst.Arg) -> cst.Call:
    kept = [a for a in call.args if a is not dropped]
    kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return call.with_changes(args=kept)
