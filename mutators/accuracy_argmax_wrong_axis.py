from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
from pytest_mlbugs.mutators._patterns import (
    argument,
    callee_name,
    int_literal,
    int_node,
    is_method_call,
    replace_arg,
)

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement


class AccuracyArgmaxWrongAxis(Mutator):
    """Predicted classes are taken with ``argmax`` over the batch axis instead of the classes.

    For logits of shape (B, C), ``argmax(dim=0)`` gives, for every class, the index of the
    example that scores it highest: C numbers compared with B labels. When B and C differ the
    comparison crashes or broadcasts; when they are equal (or a last batch of one example)
    it silently reports a meaningless accuracy. Only a literal class axis (-1, or 1 for 2-D
    logits) is rewritten, to 0.
    """

    bug_id = "accuracy_argmax_wrong_axis"
    components = ("evaluation",)
    category = Category.EVALUATION
    layer = Layer.EVALUATION
    description = "take argmax over the batch axis instead of the class axis for accuracy"
    symptom = "accuracy is stuck near chance or crashes with a shape mismatch in the comparison"
    hint = "print the shape of the predictions next to the labels"
    fix = "preds = logits.argmax(dim=-1)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("pred = logits.argmax(dim=-1)\n", "pred = logits.argmax(dim=0)\n"),
        Example("pred = torch.argmax(out, 1)\n", "pred = torch.argmax(out, 0)\n"),
    )
    UNCHANGED = ("pred = logits.argmax()\n", "pred = x.argmax(dim=0)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if callee_name(node) != "argmax":
            return ()
        method = is_method_call(node, on_modules=("torch",))
        found = argument(node, keyword="dim", position=0 if method else 1)
        if found is None or int_literal(found[1].value) not in (-1, 1):
            return ()
        return (replace_arg(node, found[0], int_node(0)),)
