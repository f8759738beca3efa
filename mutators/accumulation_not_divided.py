from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement


class AccumulationNotDivided(Mutator):
    """Accumulated micro-batch losses are not scaled before ``backward()``.

    With a mean-reduced loss, the gradient of a group of k micro-batches is the sum of their
    gradients only after each is weighted by its share of the group (1/k for equal sizes).
    Without the weight the accumulated gradient is k times too large: with Adam the scale
    mostly cancels and nothing shows, with SGD the effective learning rate grows with
    ``accum_steps`` and training diverges when it is raised. A site is
    ``(loss * w).backward()`` or ``(loss / k).backward()``; it becomes ``loss.backward()``.
    """

    bug_id = "accumulation_not_divided"
    components = ("optimization",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "accumulate micro-batch gradients without dividing by their number (or size share)"
    symptom = "loss diverges or oscillates when accum_steps is raised; fine with accum_steps=1"
    hint = "compare one accumulated step with the step on the concatenated batch"
    fix = "scale each micro-batch loss by its share of the group before backward()"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("(loss / accum_steps).backward()\n", "loss.backward()\n"),
        Example("(loss * (n / total)).backward()\n", "loss.backward()\n"),
    )
    UNCHANGED = ("loss.backward()\n", "(a + b).backward()\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        scaled = m.BinaryOperation(operator=m.Divide() | m.Multiply())
        if not m.matches(node.func, m.Attribute(value=scaled, attr=m.Name("backward"))):
            return ()
        assert isinstance(node.func, cst.Attribute) and isinstance(node.func.value, cst.BinaryOperation)
        loss = node.func.value.left
        return (node.with_changes(func=node.func.with_changes(value=loss)),)
