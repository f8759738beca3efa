from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._loops import indices, is_optimizer_step, method_name, moved


class StepBeforeBackward(Mutator):
    """``optimizer.step()`` moved before ``loss.backward()``.

    The step then applies whatever gradients are on the parameters at that moment: none
    right after ``zero_grad`` (nothing moves), or the previous batch's (every update one batch
    late). The loss is computed and printed as usual, so the loop looks alive while the model
    learns nothing or learns from stale batches. Only a ``step`` (``optimizer.step()``, or a
    GradScaler's ``scaler.step(optimizer)``) that comes after a ``backward`` in the same block
    is a site.
    """

    bug_id = "step_before_backward"
    components = ("training", "grad_clip", "schedule")
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "optimizer.step() called before loss.backward()"
    symptom = "the loss stays flat (or lags one batch behind) although the loop runs"
    hint = "compare the parameters before and after a step: do they change with this batch's gradient?"
    fix = "order every step as zero_grad, forward, loss, backward, (clip,) step"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "for x in data:\n    opt.zero_grad()\n    loss = f(x)\n    loss.backward()\n    opt.step()\n",
            "for x in data:\n    opt.zero_grad()\n    loss = f(x)\n    opt.step()\n    loss.backward()\n",
        ),
        Example(
            "for x in data:\n    loss = f(x)\n    scaler.scale(loss).backward()\n"
            "    scaler.step(opt)\n    scaler.update()\n    opt.zero_grad()\n",
            "for x in data:\n    loss = f(x)\n    scaler.step(opt)\n    scaler.scale(loss).backward()\n"
            "    scaler.update()\n    opt.zero_grad()\n",
        ),
    )
    UNCHANGED = ("for x in data:\n    opt.step()\n    f(x).backward()\n",)

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        backwards = indices(node, lambda s: method_name(s) == "backward")
        steps = indices(node, is_optimizer_step)
        if not backwards or not steps or steps[-1] < backwards[0]:
            return ()
        step = next(i for i in steps if i > backwards[0])
        return (moved(node, step, backwards[0] - 1),)
