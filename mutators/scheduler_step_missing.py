from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutation import SiteContext

from ._llm_runtime import method_call_on, removed_if


def _is_scheduler_step(statement: cst.BaseStatement) -> bool:
    return method_call_on(statement, "step", "sched") is not None


def _in_a_loop(context: SiteContext) -> bool:
    for ancestor in context.ancestors:
        if isinstance(ancestor, (cst.For, cst.While)):
            return True
        if isinstance(ancestor, cst.FunctionDef):
            return False
    return False


class SchedulerStepMissing(Mutator):
    """The learning-rate scheduler is built but never stepped.

    Building ``LambdaLR`` or a cosine scheduler sets the rate of step 0 and nothing else; without
    ``scheduler.step()`` in the loop the whole run trains at that rate: a warmup that starts
    near zero stays there, a schedule that starts at the peak never decays. Sites: a
    ``scheduler.step()`` statement, removed.
    """

    bug_id = "scheduler_step_missing"
    components = ("schedule",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "scheduler.step() never called: the learning rate stays at its first value"
    symptom = "training crawls (stuck at the first warmup rate) or never anneals"
    hint = "log optimizer.param_groups[0]['lr'] every few steps"
    fix = "call scheduler.step() once per optimizer step, after optimizer.step()"
    node_types = (cst.SimpleStatementLine,)
    EXAMPLES = (
        Example(
            "for batch in loader:\n    optimizer.step()\n    self.lr_scheduler.step()\n",
            "for batch in loader:\n    optimizer.step()\n",
        ),
    )
    UNCHANGED = (
        "for b in data:\n    optimizer.step()\n    trainer.step()\n",
        # timm's resume: the schedule jumps to start_epoch once; the loop steps it later
        "if lr_scheduler is not None and start_epoch > 0:\n    lr_scheduler.step(start_epoch)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        call = method_call_on(node, "step", "sched") if isinstance(node, cst.SimpleStatementLine) else None
        # a step to an explicit position outside any loop (``step(start_epoch)`` on resume)
        # jumps the schedule once; the per-step call is elsewhere, so it is no "never stepped"
        if call is not None and call.args and not _in_a_loop(self.context):
            return ()
        return removed_if(node, _is_scheduler_step)
