from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_layers import renamed_activation


class SiluReplacedByGelu(Mutator):
    """The feed-forward block uses GELU where SiLU belongs.

    GPT-2 and BERT blocks use GELU; Llama's SwiGLU gates with SiLU (``x * sigmoid(x)``). The two
    curves look alike, so code ported from one family to the other often keeps the wrong one:
    shapes agree and a model trained from scratch is only a little worse, but a pretrained
    checkpoint computes a different function in every block and its outputs drift. Sites: a call
    of ``silu`` (``F.silu``, ``torch.nn.functional.silu``) and ``nn.SiLU()``.
    """

    bug_id = "silu_replaced_by_gelu"
    components = ("llama_block",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "GELU instead of SiLU in a SwiGLU feed-forward block"
    symptom = "a pretrained Llama checkpoint degrades; training from scratch is only slightly worse"
    hint = "which activation does the checkpoint's config name (hidden_act)?"
    fix = "F.silu(self.w1(x)) * self.w3(x)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "y = self.w2(F.silu(self.w1(x)) * self.w3(x))\n", "y = self.w2(F.gelu(self.w1(x)) * self.w3(x))\n"
        ),
        Example("self.act_fn = nn.SiLU()\n", "self.act_fn = nn.GELU()\n"),
        Example(
            "x = torch.nn.functional.silu(x_fc_1) * x_fc_2\n",
            "x = torch.nn.functional.gelu(x_fc_1) * x_fc_2\n",
        ),
    )
    UNCHANGED = ("y = F.gelu(x)\n", "y = silu_and_mul(x)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        swapped = renamed_activation(node, {"silu": "gelu", "SiLU": "GELU"})
        return () if swapped is None else (swapped,)
