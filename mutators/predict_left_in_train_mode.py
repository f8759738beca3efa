from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._guide import statement_method, without_statement
from pytest_mlbugs.mutators._patterns import statement_call


class PredictLeftInTrainMode(Mutator):
    """Inference runs without switching the model to eval mode.

    ``torch.no_grad()`` is often mistaken for eval mode, but it only stops the graph: dropout
    keeps dropping and batch norm keeps normalizing with the batch's statistics (and moving
    its running averages). Predictions become random and depend on the batch composition;
    validation metrics are noisy and worse than the training curve suggests. A site is a
    statement ``model.eval()`` or ``model.train(False)``; it is removed.
    """

    bug_id = "predict_left_in_train_mode"
    components = ("normalization",)
    category = Category.EVALUATION
    layer = Layer.EVALUATION
    description = "run inference without model.eval()"
    symptom = "predictions change from call to call; validation metrics noisy and too low"
    hint = "is dropout active during inference? print model.training inside predict"
    fix = "call model.eval() before inference (and restore the previous mode after)"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "def f(model, x):\n    model.eval()\n    return model(x)\n",
            "def f(model, x):\n    return model(x)\n",
        ),
    )
    UNCHANGED = ("def f(model, x):\n    model.train()\n    return model(x)\n",)

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        return [without_statement(node, i) for i, s in enumerate(node.body) if _enters_eval(s)]


def _enters_eval(statement: cst.BaseStatement) -> bool:
    method = statement_method(statement)
    if method == "eval":
        return True
    call = statement_call(statement)
    return (
        method == "train"
        and call is not None
        and len(call.args) == 1
        and m.matches(call.args[0].value, m.Name("False"))
    )
