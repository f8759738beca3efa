from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_layers import renamed_activation

_SWAPS = {"relu": "gelu", "gelu": "relu", "ReLU": "GELU", "GELU": "ReLU", "silu": "relu", "SiLU": "ReLU"}


class ReluGeluSwapped(Mutator):
    """An activation is swapped within the ReLU family: ReLU for GELU, GELU for ReLU, ReLU for SiLU.

    The activation of a feed-forward block is part of what a checkpoint was trained with:
    original Transformers use ReLU, GPT-2 and BERT GELU, Llama's SwiGLU SiLU. A config default or
    a copied block brings the wrong one: shapes agree, a model trained from scratch learns
    slightly worse (ReLU units die, GELU is slower), and a pretrained checkpoint drifts in every
    block. Sites: calls of ``relu``, ``gelu`` and ``silu`` (functional) and ``nn.ReLU()``,
    ``nn.GELU()``, ``nn.SiLU()``; their arguments other than the input are dropped
    (``inplace``, ``approximate``), which the other activation does not take.
    """

    bug_id = "relu_gelu_swapped"
    components = ("llama_block",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "activation swapped: ReLU for GELU, GELU for ReLU, or ReLU for SiLU"
    symptom = "a pretrained checkpoint degrades; from scratch, training is a little worse or units die"
    hint = "compare the activation with the one the architecture (or the checkpoint's config) specifies"
    fix = "use the architecture's activation: ReLU (Transformer), GELU (GPT-2/BERT), SiLU (Llama's SwiGLU)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("self.act = nn.ReLU(inplace=True)\n", "self.act = nn.GELU()\n"),
        Example("h = F.gelu(self.c_fc(x), approximate='tanh')\n", "h = F.relu(self.c_fc(x))\n"),
        Example(
            "y = self.w2(F.silu(self.w1(x)) * self.w3(x))\n", "y = self.w2(F.relu(self.w1(x)) * self.w3(x))\n"
        ),
    )
    UNCHANGED = ("y = F.leaky_relu(x)\n", "y = F.relu6(x)\n", "y = relu_fused(x)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        swapped = renamed_activation(node, _SWAPS)
        return () if swapped is None else (swapped,)
