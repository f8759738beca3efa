from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._llm_runtime import method_call_on, removed_if


def _is_scheduler_step(statement: cst.BaseStatement) -> bool:
    return method_call_on(statement, "step", "sched") is not None


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
    UNCHANGED = ("for b in data:\n    optimizer.step()\n    trainer.step()\n",)

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        return removed_if(node, _is_scheduler_step)
