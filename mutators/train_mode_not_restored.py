from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._loops import indices, without
from ._patterns import statement_call

_TRAIN_CALL = m.Call(func=m.Attribute(attr=m.Name("train")))


def _is_restore(statement: cst.BaseStatement) -> bool:
    """``model.train(was_training)``, or ``if was_training: model.train()``."""
    call = statement_call(statement)
    if call is not None:
        return (
            m.matches(call, _TRAIN_CALL)
            and len(call.args) == 1
            and m.matches(call.args[0].value, m.Name() | m.Attribute())
            and not m.matches(call.args[0].value, m.Name("True") | m.Name("False"))
        )
    if (
        isinstance(statement, cst.If)
        and statement.orelse is None
        and isinstance(statement.body, cst.IndentedBlock)
    ):
        inner = statement.body.body
        return len(inner) == 1 and m.matches(statement_call(inner[0]) or cst.Name("x"), _TRAIN_CALL)
    return False


class TrainModeNotRestored(Mutator):
    """An evaluation helper switches to eval mode and never switches back.

    The function that called it (a training loop with periodic validation) continues training
    in eval mode: dropout off, batch norm frozen on running statistics. Nothing crashes; the
    model overfits after the first validation and results depend on how often one validates.
    Sites: ``model.train(was_training)`` and ``if was_training: model.train()`` statements.
    """

    bug_id = "train_mode_not_restored"
    components = ("evaluation", "normalization", "generation")
    category = Category.STATE_DEVICE
    layer = Layer.EVALUATION
    description = "do not restore the previous train/eval mode after evaluating"
    symptom = "after the first validation, training runs without dropout and overfits"
    hint = "compare model.training before and after the evaluation call"
    fix = "was_training = model.training; model.eval(); ...; model.train(was_training)"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "def evaluate(model):\n    was = m.training\n    m.eval()\n    m.train(was)\n    return 1\n",
            "def evaluate(model):\n    was = m.training\n    m.eval()\n    return 1\n",
        ),
        Example(
            "def evaluate(model):\n    model.eval()\n    if was:\n        model.train()\n    return 1\n",
            "def evaluate(model):\n    model.eval()\n    return 1\n",
        ),
    )
    UNCHANGED = (
        "def fit(model):\n    model.train()\n    step()\n",
        "def fit(model):\n    model.train(True)\n    step()\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        return [block for i in indices(node, _is_restore) for block in without(node, i)]
