from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import method_call_on
from ._loops import indices, is_optimizer_step, moved


def _is_scheduler_step(statement: cst.BaseStatement) -> bool:
    return method_call_on(statement, "step", "sched") is not None


class SchedulerStepBeforeOptimizer(Mutator):
    """``scheduler.step()`` is called before ``optimizer.step()``.

    The scheduler then advances before the step it was meant for: every optimizer step uses
    the next step's learning rate, the first value of the schedule (the start of the warmup)
    is never used, and PyTorch only warns once ("Detected call of `lr_scheduler.step()` before
    `optimizer.step()`"), in a log nobody reads. Sites: a scheduler ``step()`` that follows an
    ``optimizer.step()`` in the same block, moved before it.
    """

    bug_id = "scheduler_step_before_optimizer"
    components = ("schedule",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "scheduler.step() before optimizer.step(): every step uses the next step's rate"
    symptom = "the warmup starts one step late; PyTorch warns about the order once"
    hint = "record the learning rate at each optimizer.step() and compare with the schedule"
    fix = "call optimizer.step() first, then scheduler.step()"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "for batch in loader:\n"
            "    loss.backward()\n"
            "    optimizer.step()\n"
            "    lr_scheduler.step()\n"
            "    optimizer.zero_grad()\n",
            "for batch in loader:\n"
            "    loss.backward()\n"
            "    lr_scheduler.step()\n"
            "    optimizer.step()\n"
            "    optimizer.zero_grad()\n",
        ),
    )
    UNCHANGED = (
        "for b in data:\n    scheduler.step()\n    optimizer.step()\n",
        "for b in data:\n    optimizer.step()\n    trainer.step()\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        steps = indices(node, is_optimizer_step)
        found = []
        for scheduler in indices(node, _is_scheduler_step):
            before = [s for s in steps if s < scheduler]
            if before:
                found.append(moved(node, scheduler, before[-1] - 1))
        return found
