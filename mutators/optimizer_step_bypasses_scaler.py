from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import named


class OptimizerStepBypassesScaler(Mutator):
    """``optimizer.step()`` is called instead of ``scaler.step(optimizer)``.

    ``scaler.step`` does two things: it unscales the gradients (unless ``unscale_`` already
    did) and skips the step when they contain inf or NaN. In the usual loop that clips, the
    gradients were unscaled for the clip, so every step looks right until the first float16
    overflow, which is written into the weights: the loss turns NaN for good. (Without
    clipping, ``scaler.update()`` notices that no inf check ran and raises.) Sites:
    ``scaler.step(optimizer)`` calls, replaced by ``optimizer.step()``.
    """

    bug_id = "optimizer_step_bypasses_scaler"
    components = ("amp",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "optimizer.step() instead of scaler.step(optimizer): scaled or inf gradients applied"
    symptom = "with AMP the loss explodes or turns NaN at the first overflow"
    hint = "does a step with an inf gradient change the weights?"
    fix = "scaler.step(optimizer); scaler.update()"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("scaler.step(optimizer)\n", "optimizer.step()\n"),
        Example("self.scaler.step(self.optimizer)\n", "self.optimizer.step()\n"),
    )
    UNCHANGED = ("optimizer.step()\n", "scheduler.step(epoch)\n", "scaler.step(optimizer, closure)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        func = node.func
        if (
            not isinstance(func, cst.Attribute)
            or func.attr.value != "step"
            or not named(func.value, "scaler")
        ):
            return ()
        if len(node.args) != 1 or node.args[0].keyword is not None or node.args[0].star:
            return ()
        optimizer = node.args[0].value
        return (cst.Call(func=cst.Attribute(value=optimizer, attr=cst.Name("step"))),)
