from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import removed_if
from ._patterns import callee_name, statement_call

_SETTERS = ("set_rng_state", "set_rng_state_all", "setstate", "set_state")


def _restores_random_state(statement: cst.BaseStatement) -> bool:
    call = statement_call(statement)
    return call is not None and callee_name(call) in _SETTERS and len(call.args) == 1


class RngStateNotRestored(Mutator):
    """A resumed run does not restore the random generator's state.

    Weights, optimizer and schedule are exactly where they were, but the dropout masks (and
    the data order of any sampler drawing from torch's global generator) come from whatever
    state the new process started with. Training goes on, only on another path than the
    uninterrupted run: results cannot be reproduced across restarts and a bisection of a
    regression through checkpoints finds nothing. Sites: ``torch.set_rng_state(...)``,
    ``torch.cuda.set_rng_state(...)``, ``random.setstate(...)`` and
    ``np.random.set_state(...)`` statements, removed.
    """

    bug_id = "rng_state_not_restored"
    components = ("checkpoint",)
    category = Category.STATE_DEVICE
    layer = Layer.UPDATES
    description = "resume without restoring torch's random state: other dropout masks after a restart"
    symptom = "a run resumed from a checkpoint diverges from the uninterrupted run"
    hint = "compare torch.get_rng_state() after loading with the one saved"
    fix = "save torch.get_rng_state() (and the CUDA ones) and restore them with set_rng_state"
    node_types = (cst.SimpleStatementLine,)
    EXAMPLES = (
        Example(
            "def load(ckpt):\n"
            "    random.setstate(ckpt['python_rng'])\n"
            "    torch.set_rng_state(ckpt['torch_rng'])\n"
            "    return ckpt['step']\n",
            "def load(ckpt):\n    torch.set_rng_state(ckpt['torch_rng'])\n    return ckpt['step']\n",
        ),
        Example(
            "def load(ckpt):\n"
            "    random.setstate(ckpt['python_rng'])\n"
            "    torch.set_rng_state(ckpt['torch_rng'])\n"
            "    return ckpt['step']\n",
            "def load(ckpt):\n    random.setstate(ckpt['python_rng'])\n    return ckpt['step']\n",
            site=1,
        ),
    )
    UNCHANGED = ("def f(ckpt):\n    torch.manual_seed(ckpt['seed'])\n    return 1\n",)

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        return removed_if(node, _restores_random_state)
