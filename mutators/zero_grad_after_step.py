from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._loops import indices, is_optimizer_step, method_name, moved


class ZeroGradAfterStep(Mutator):
    """``optimizer.zero_grad()`` moved from before the forward pass to after ``optimizer.step()``.

    Both orders clear the gradients once per step, so the loop looks equivalent and most steps
    are. Only the first step differs: whatever gradients were on the parameters when the loop
    started (a previous backward, an evaluation that forgot ``no_grad``, a gradient check) are
    added to the first batch's gradient. The first update jumps; later ones look fine. Only a
    ``zero_grad`` that comes before the ``step`` in the same block is a site; one already after
    the step has nothing to move.
    """

    bug_id = "zero_grad_after_step"
    components = ("training", "optimization", "schedule")
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "zero_grad() moved after optimizer.step(): stale gradients leak into the first step"
    symptom = "the first update is a jump that depends on what ran before training"
    hint = "look at the parameters' .grad right before the first optimizer.step()"
    fix = "call optimizer.zero_grad() before the forward pass (or before backward) of every step"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "for x, y in data:\n    opt.zero_grad()\n    loss = f(x)\n    loss.backward()\n    opt.step()\n",
            "for x, y in data:\n    loss = f(x)\n    loss.backward()\n    opt.step()\n    opt.zero_grad()\n",
        ),
        Example(
            "for x in data:\n    opt.zero_grad()\n    scaler.scale(f(x)).backward()\n"
            "    scaler.step(opt)\n    scaler.update()\n",
            "for x in data:\n    scaler.scale(f(x)).backward()\n"
            "    scaler.step(opt)\n    opt.zero_grad()\n    scaler.update()\n",
        ),
    )
    UNCHANGED = (
        "for x, y in data:\n    loss = f(x)\n    loss.backward()\n    opt.step()\n    opt.zero_grad()\n",
        "for x in data:\n    opt.zero_grad()\n    scheduler.step()\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        zeros = indices(node, lambda s: method_name(s) == "zero_grad")
        steps = indices(node, is_optimizer_step)
        if not zeros or not steps or zeros[0] > steps[-1]:
            return ()
        step = next(i for i in steps if i > zeros[0])
        return (moved(node, zeros[0], step),)
