from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import removed_if, restores_state_of


def _restores_scheduler(statement: cst.BaseStatement) -> bool:
    return restores_state_of(statement, "sched")


class SchedulerStateNotRestored(Mutator):
    """A resumed run restores the optimizer but not the learning-rate scheduler.

    The optimizer's state holds the current rate, so the first step after the restart looks
    right; the scheduler's own counter, though, starts again at step 0: the warmup runs a
    second time, or the cosine starts again from the peak, in the middle of training. Sites:
    ``scheduler.load_state_dict(...)`` statements, removed.
    """

    bug_id = "scheduler_state_not_restored"
    components = ("checkpoint",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "resume without the scheduler's state: the schedule restarts from step 0"
    symptom = "after a restart the learning rate jumps back to the warmup or to the peak"
    hint = "compare scheduler.last_epoch (and the lr) before saving and after loading"
    fix = "save scheduler.state_dict() and load it on resume"
    node_types = (cst.SimpleStatementLine,)
    EXAMPLES = (
        Example(
            "if scheduler is not None:\n    scheduler.load_state_dict(checkpoint['scheduler'])\n",
            "if scheduler is not None:\n    pass\n",
        ),
        Example(
            "def on_load(self, state):\n"
            "    self.optimizer.load_state_dict(state['optimizer'])\n"
            "    self.lr_scheduler.load_state_dict(state['lr_scheduler'])\n",
            "def on_load(self, state):\n    self.optimizer.load_state_dict(state['optimizer'])\n",
        ),
    )
    UNCHANGED = ("def f(optimizer, sd):\n    optimizer.load_state_dict(sd)\n    return 1\n",)

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        return removed_if(node, _restores_scheduler)
