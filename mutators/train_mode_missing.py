from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._loops import indices, without
from ._patterns import statement_call


def _is_train_on(statement: cst.BaseStatement) -> bool:
    """``model.train()`` or ``model.train(True)``; not ``model.train(was_training)``."""
    call = statement_call(statement)
    if call is None or not isinstance(call.func, cst.Attribute) or call.func.attr.value != "train":
        return False
    return not call.args or (
        len(call.args) == 1
        and isinstance(call.args[0].value, cst.Name)
        and call.args[0].value.value == "True"
    )


class TrainModeMissing(Mutator):
    """``model.train()`` at the start of training is gone.

    A model is in training mode when built, so the first run looks fine; but after any
    evaluation that calls ``model.eval()`` (and leaves it so), the next training epochs run with
    dropout off and batch norm frozen on its running statistics. Training loss drops faster,
    validation stops improving: it looks like overfitting. Only a bare ``model.train()`` (or
    ``train(True)``) statement is a site, not a restore such as ``model.train(was_training)``.
    """

    bug_id = "train_mode_missing"
    components = ("training",)
    category = Category.STATE_DEVICE
    layer = Layer.UPDATES
    description = "model.train() removed at the start of training: dropout stays off after an eval"
    symptom = "after the first validation, training loss drops faster and validation stops improving"
    hint = "print model.training (and every submodule's) inside the training loop"
    fix = "call model.train() at the start of every training epoch"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "def fit(model, data):\n    model.train()\n    for x in data:\n        step(x)\n",
            "def fit(model, data):\n    for x in data:\n        step(x)\n",
        ),
    )
    UNCHANGED = ("def evaluate(model):\n    model.eval()\n    model.train(was_training)\n",)

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        return [block for i in indices(node, _is_train_on) for block in without(node, i)]
