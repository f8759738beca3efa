from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._loops import indices, is_optimizer_step, without
from ._patterns import callee_name, dotted_name, statement_call


def _is_scaler_step(statement: cst.BaseStatement) -> bool:
    """``scaler.step(optimizer)``: the optimizer step of mixed-precision training."""
    call = statement_call(statement)
    if call is None or callee_name(call) != "step" or len(call.args) != 1:
        return False
    assert isinstance(call.func, cst.Attribute)
    return "scaler" in (dotted_name(call.func.value) or "").lower()


class OptimizerStepMissing(Mutator):
    """The optimizer step is never called: gradients are computed and thrown away.

    ``optimizer.step()`` goes missing when a loop is refactored (the step moved into a helper
    that is never called, a merge that kept the ``zero_grad`` of one side and the backward of the
    other, an ``if`` around the step that is never true). The loop runs at full speed, losses are
    logged, gradients are non-zero, and the weights never change: the loss curve is flat noise.
    Sites: an ``optimizer.step()`` statement (not a scheduler's) or a ``scaler.step(optimizer)``
    statement, removed from its block.
    """

    bug_id = "optimizer_step_missing"
    components = ("training", "grad_clip", "optimization")
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "optimizer.step() removed: gradients are computed but the weights never change"
    symptom = "the loss curve is flat noise; the weights after training equal the initial ones"
    hint = "compare a parameter before and after one training step"
    fix = "call optimizer.step() after loss.backward() (and after clipping)"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "for x, y in loader:\n    opt.zero_grad()\n    crit(model(x), y).backward()\n    opt.step()\n",
            "for x, y in loader:\n    opt.zero_grad()\n    crit(model(x), y).backward()\n",
        ),
        Example(  # timm / pytorch-examples with AMP
            "for x, y in loader:\n    scaler.scale(loss).backward()\n    scaler.step(optimizer)\n"
            "    scaler.update()\n",
            "for x, y in loader:\n    scaler.scale(loss).backward()\n    scaler.update()\n",
        ),
    )
    UNCHANGED = (
        "for x in data:\n    loss.backward()\n    scheduler.step()\n",
        "for x in data:\n    env.step(action)\n    n += 1\n",
        "if ready:\n    opt.step()\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        return [
            block
            for i in indices(node, lambda s: is_optimizer_step(s) or _is_scaler_step(s))
            for block in without(node, i)
        ]
