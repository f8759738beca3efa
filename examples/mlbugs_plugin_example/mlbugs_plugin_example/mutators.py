"""The mutator of the example: label smoothing that forgets to share its mass among the classes."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

#: ``smoothing / <anything>``: the share of the smoothing mass each class gets
_SHARE = m.BinaryOperation(
    left=m.Name(value=m.MatchIfTrue(lambda name: "smooth" in name.lower())),
    operator=m.Divide(),
)


class SmoothingNotDividedByClasses(Mutator):
    """Label smoothing adds the whole smoothing mass to every class instead of sharing it.

    ``one_hot * (1 - s) + s`` instead of ``one_hot * (1 - s) + s / C``: each row now sums to
    ``1 + s * (C - 1)``, so the targets are no distribution. Cross-entropy against them still
    trains, but towards a uniform prediction that is pulled ``C`` times harder than intended:
    the model ends up under-confident and accuracy plateaus below what ``s / C`` reaches.
    """

    bug_id = "smoothing_not_divided_by_classes"
    components = ("label_smoothing",)
    category = Category.TARGET
    layer = Layer.TARGET
    description = "label smoothing mass added to every class instead of shared among them"
    symptom = "targets do not sum to 1; the model is under-confident and accuracy plateaus early"
    hint = "sum one row of the smoothed targets: is it 1?"
    fix = "spread the smoothing mass evenly: one_hot * (1 - s) + s / num_classes"
    node_types = (cst.BinaryOperation,)
    EXAMPLES = (
        Example(
            "y = one_hot * (1 - smoothing) + smoothing / num_classes\n",
            "y = one_hot * (1 - smoothing) + smoothing\n",
        ),
        Example("q = eps_smooth / k\n", "q = eps_smooth\n"),
    )
    UNCHANGED = (
        "y = one_hot * (1 - smoothing) + smoothing\n",  # already the bug
        "loss = total / num_classes\n",  # a division that is not the smoothing share
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if not m.matches(node, _SHARE):
            return ()
        assert isinstance(node, cst.BinaryOperation)
        return (node.left,)
