from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, Rewrite

from ._context import in_sampling_code, reads_attention
from ._numerics import operand
from ._patterns import (
    axis_argument,
    callee_name,
    int_node,
    neighbour_axis,
    replace_arg,
)

_MODULES = ("F", "torch", "nn.functional", "torch.nn.functional", "functional")


class SoftmaxWrongDim(Mutator):
    """Softmax (or log-softmax) normalizes over the wrong axis.

    In attention the weights of each query must sum to one over the keys (the last axis);
    over the query axis instead, every key's column sums to one and each query mixes values
    with weights that do not sum to one. Shapes stay the same, so nothing crashes. Only a
    literal axis is rewritten (the last axis to the one before it, any other but 0 to its
    neighbour); an axis held in a variable cannot be judged from the text, and a softmax over
    axis 0 is most often over a vector, where another axis does not exist. Outside attention
    the bug is named for what it does there: class probabilities normalized across the batch,
    or next-token probabilities across the batch in sampling code.
    """

    bug_id = "softmax_wrong_dim"
    components = ("attention", "numerics", "gqa", "lm_loss", "sampling")
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "softmax over the wrong axis (queries instead of keys)"
    symptom = "attention weights do not sum to 1 per query; the model learns slowly or not at all"
    hint = "check which axis of the score tensor each query's weights should sum over"
    fix = "softmax over the key axis: dim=-1 for scores of shape (B, H, Tq, Tk)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("w = F.softmax(scores, dim=-1)\n", "w = F.softmax(scores, dim=-2)\n"),
        Example("w = scores.softmax(-1)\n", "w = scores.softmax(-2)\n"),
        Example("w = torch.log_softmax(x, 1)\n", "w = torch.log_softmax(x, 0)\n"),
    )
    UNCHANGED = (
        "w = F.softmax(scores, dim=self.axis)\n",
        "w = F.relu(x)\n",
        "mix = torch.softmax(self.layer_weights, dim=0)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement | Rewrite]:
        assert isinstance(node, cst.Call)
        if callee_name(node) not in ("softmax", "log_softmax"):
            return ()
        axis = axis_argument(node, modules=_MODULES)
        if axis is None:
            return ()
        index, dim = axis
        if dim == 0:
            return ()
        moved = replace_arg(node, index, int_node(neighbour_axis(dim)))
        context = self.context
        normalized = operand(node)
        if normalized is not None and reads_attention(context, normalized):
            return (moved,)
        if in_sampling_code(context):
            return (
                Rewrite(
                    moved, "next-token probabilities normalized over the batch instead of the vocabulary"
                ),
            )
        return (
            Rewrite(moved, "softmax over the wrong axis: across the batch or positions, not the classes"),
        )
