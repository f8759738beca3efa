from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import output_projection_input
from ._context import scope_words

#: words of a feed-forward block's scope (class or function names)
_MLP_WORDS = frozenset({"mlp", "ffn", "feedforward", "feed", "swiglu", "glu", "expert", "moe"})


class OutputProjectionSkipped(Mutator):
    """The merged heads are returned without the output projection.

    ``out_proj`` is created in ``__init__`` and counted in the parameters, but ``forward``
    returns the concatenated heads directly, typically after a refactor that split the head merge
    into its own line. Shapes agree, the model trains, and each head's output stays confined to
    its own slice of the residual stream; a checkpoint from correct code gives different outputs.
    Sites: a one-argument call of an attribute named like an attention output projection,
    outside a feed-forward block (``MLP``, ``FeedForward``...): the ``c_proj`` of an MLP maps
    another width, and skipping it could only fail.
    """

    bug_id = "output_projection_skipped"
    components = ("attention", "gqa")
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "return the merged heads without applying out_proj"
    symptom = "the model trains slightly worse; out_proj weights never change; checkpoints disagree"
    hint = "check that out_proj's weights receive gradients"
    fix = "return self.out_proj(context)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("def f(self, c):\n    return self.out_proj(c)\n", "def f(self, c):\n    return c\n"),
        Example(
            "y = self.c_proj(y.transpose(1, 2).reshape(b, t, c))\n",
            "y = y.transpose(1, 2).reshape(b, t, c)\n",
        ),
    )
    UNCHANGED = (
        "y = self.q_proj(x)\n",
        "y = self.out_proj(x, y)\n",
        "class MLP(nn.Module):\n    def forward(self, x):\n"
        "        return self.c_proj(self.act(self.c_fc(x)))\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        projected = output_projection_input(node)
        if projected is None:
            return ()
        if scope_words(self.context) & {
            "mlp",
            "ffn",
            "feedforward",
            "feed",
            "swiglu",
            "glu",
            "expert",
            "moe",
        }:
            return ()
        return (projected.value,)
