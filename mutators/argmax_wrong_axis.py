from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, Rewrite

from ._context import in_sampling_code, reads_attention
from ._numerics import MODULES, operand
from ._patterns import axis_argument, callee_name, int_node, neighbour_axis, replace_arg


class ArgmaxWrongAxis(Mutator):
    """Predictions are the argmax over the batch axis instead of the class axis.

    ``logits.argmax(dim=0)`` on (N, C) scores gives one index per class, not per example.
    When N happens to equal C (or broadcasting rescues the comparison) the metric is computed
    on nonsense without any error: accuracy near chance, or suspiciously high on a lucky
    batch; when they differ, the comparison with the labels crashes or broadcasts. Only a
    literal axis is rewritten (the last axis to the one before it, any other to its
    neighbour); an axis held in a variable cannot be judged from the text. In sampling code the
    bug picks the next token across the batch, and over attention weights it picks a query
    instead of a key: the bug is named for that there.
    """

    bug_id = "argmax_wrong_axis"
    components = ("metrics", "evaluation", "sampling")
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "argmax over the batch axis instead of the class axis"
    symptom = "accuracy at chance level (or a shape error) although the loss goes down"
    hint = "print predictions.shape next to labels.shape"
    fix = "take the argmax over the class axis: logits.argmax(dim=-1) for (N, C) scores"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("p = logits.argmax(dim=-1)\n", "p = logits.argmax(dim=-2)\n"),
        Example("p = torch.argmax(logits, 1)\n", "p = torch.argmax(logits, 0)\n"),
    )
    UNCHANGED = ("p = logits.argmax()\n", "p = logits.argmax(dim=axis)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement | Rewrite]:
        assert isinstance(node, cst.Call)
        if callee_name(node) not in ("argmax", "argmin"):
            return ()
        axis = axis_argument(node, modules=MODULES)
        if axis is None:
            return ()
        index, dim = axis
        moved = replace_arg(node, index, int_node(neighbour_axis(dim)))
        context = self.context
        taken = operand(node)
        if taken is not None and reads_attention(context, taken):
            return (Rewrite(moved, "argmax of the attention weights over the queries instead of the keys"),)
        if in_sampling_code(context):
            return (Rewrite(moved, "next token chosen by argmax over the batch instead of the vocabulary"),)
        return (moved,)
