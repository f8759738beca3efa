from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import output_projection_input
from ._context import scope_words

#: scopes of a feed-forward block, whose ``c_proj`` (nanoGPT's MLP) maps 4 * d back to d: applied
#: twice it only fails on the shapes, and it is no attention output projection
_FEED_FORWARD = {"mlp", "ffn", "feedforward", "feed"}


class OutputProjectionAppliedTwice(Mutator):
    """The attention output projection is applied twice: ``out_proj(out_proj(context))``.

    It happens when the projection moves from ``forward`` into a helper (a head-merge
    function, a ``_merge_heads`` that now ends with ``self.out_proj(...)``) and the call at the
    end of ``forward`` stays. With a square ``d_model x d_model`` projection the shapes still
    agree, so nothing crashes: the block computes ``W(Wx + b) + b``, a different linear map that
    a checkpoint from correct code no longer reproduces, and the projection's gradient is
    counted twice. Sites: a one-argument call of an attribute named like an attention output
    projection (``out_proj``, ``o_proj``, ``c_proj``, ``to_out``, ...), wrapped in a second call.
    """

    bug_id = "output_projection_applied_twice"
    components = ("attention",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "apply out_proj twice to the merged heads (out_proj(out_proj(context)))"
    symptom = "outputs disagree with a checkpoint of the same model; training is slower and less stable"
    hint = "count how many times forward calls the output projection"
    fix = "apply the output projection once: return self.out_proj(context)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "def forward(self, x):\n    return self.out_proj(context)\n",
            "def forward(self, x):\n    return self.out_proj(self.out_proj(context))\n",
        ),
        Example(  # nanoGPT
            "y = self.resid_dropout(self.c_proj(y))\n",
            "y = self.resid_dropout(self.c_proj(self.c_proj(y)))\n",
        ),
        Example(  # Hugging Face
            "attn_output = self.o_proj(attn_output)\n",
            "attn_output = self.o_proj(self.o_proj(attn_output))\n",
        ),
    )
    UNCHANGED = (
        "y = self.q_proj(x)\n",
        "y = self.out_proj(x, y)\n",
        "self.out_proj = nn.Linear(d, d)\n",
        # nanoGPT's MLP: c_proj is the feed-forward's down projection
        "class MLP(nn.Module):\n    def forward(self, x):\n        x = self.c_proj(x)\n        return x\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        projected = output_projection_input(node)
        if projected is None or scope_words(self.context) & _FEED_FORWARD:
            return ()
        return (node.with_changes(args=[projected.with_changes(value=node)]),)
