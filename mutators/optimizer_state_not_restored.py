from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import removed_if, restores_state_of


def _restores_optimizer(statement: cst.BaseStatement) -> bool:
    return restores_state_of(statement, "optim", "opt")


class OptimizerStateNotRestored(Mutator):
    """A resumed run loads the weights but not the optimizer's state.

    Adam's moment estimates and step count start from zero again: its bias correction treats
    the first steps after the restart as the first steps of training, so they are much larger
    than the ones before the interruption. The loss spikes right after every restart and
    resumed runs differ from uninterrupted ones; with plain SGD nothing shows, which is why it
    survives small tests. Sites: ``optimizer.load_state_dict(...)`` statements, removed.
    """

    bug_id = "optimizer_state_not_restored"
    components = ("checkpoint",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "resume without the optimizer's state (Adam's moments start from zero)"
    symptom = "the loss spikes after every restart from a checkpoint"
    hint = "compare optimizer.state_dict()['state'] before saving and after loading"
    fix = "save optimizer.state_dict() and call optimizer.load_state_dict(...) on resume"
    node_types = (cst.SimpleStatementLine,)
    EXAMPLES = (
        Example(
            "if init_from == 'resume':\n"
            "    model.load_state_dict(state_dict)\n"
            "    optimizer.load_state_dict(checkpoint['optimizer'])\n",
            "if init_from == 'resume':\n    model.load_state_dict(state_dict)\n",
        ),
        Example(
            "def load(self, ckpt):\n    self.opt.load_state_dict(ckpt[OPT_KEY])\n    return ckpt['step']\n",
            "def load(self, ckpt):\n    return ckpt['step']\n",
        ),
    )
    UNCHANGED = ("def f(model, sd):\n    model.load_state_dict(sd)\n    return model\n",)

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        return removed_if(node, _restores_optimizer)
