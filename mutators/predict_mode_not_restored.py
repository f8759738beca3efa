from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._guide import statement_method, without_statement
from pytest_mlbugs.mutators._patterns import statement_call


class PredictModeNotRestored(Mutator):
    """After inference the model is left in eval mode instead of the mode it had before.

    A helper that calls ``model.eval()`` and forgets ``model.train(was_training)`` switches
    dropout and batch-norm updates off for the rest of training whenever it is used for a
    validation pass mid-epoch. Training goes on and the loss even looks smoother, but the
    regularization is gone and the model overfits. A site is a statement
    ``model.train(<saved mode>)`` (one argument that is not a literal); it is removed.
    """

    bug_id = "predict_mode_not_restored"
    components = ("normalization",)
    category = Category.STATE_DEVICE
    layer = Layer.EVALUATION
    description = "leave the model in eval mode after inference"
    symptom = "training loss smoother but validation worse after the first validation pass; dropout off"
    hint = "print model.training before and after the inference helper"
    fix = "remember model.training and call model.train(was_training) afterwards (try/finally)"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "def f(model, x):\n    y = model(x)\n    model.train(was_training)\n    return y\n",
            "def f(model, x):\n    y = model(x)\n    return y\n",
        ),
        Example(
            "try:\n    y = model(x)\nfinally:\n    model.train(mode)\n",
            "try:\n    y = model(x)\nfinally:\n    pass\n",
        ),
    )
    UNCHANGED = ("def f(model):\n    model.train()\n    model.train(False)\n",)

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        return [without_statement(node, i) for i, s in enumerate(node.body) if _restores_mode(s)]


def _restores_mode(statement: cst.BaseStatement) -> bool:
    if statement_method(statement) != "train":
        return False
    call = statement_call(statement)
    if call is None or len(call.args) != 1:
        return False
    (arg,) = call.args
    if arg.keyword is not None and arg.keyword.value != "mode":
        return False
    return not m.matches(arg.value, m.Name("True") | m.Name("False"))
