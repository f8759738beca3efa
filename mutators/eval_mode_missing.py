from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._loops import indices, method_name, without
from ._patterns import statement_call


def _is_eval(statement: cst.BaseStatement) -> bool:
    call = statement_call(statement)
    return call is not None and not call.args and method_name(statement) == "eval"


class EvalModeMissing(Mutator):
    """``model.eval()`` before evaluating is gone.

    Without it dropout keeps dropping units and batch norm normalizes each validation batch by
    its own statistics (and updates the running ones with validation data). Metrics come out
    worse and change from run to run, and depend on the batch size: a short last batch of one
    example even crashes batch norm. Sites: ``x.eval()`` statements without arguments, outside
    ``__init__`` (a copy put in eval mode when it is built, as an EMA model is, is evaluated
    by code that sets the mode itself).
    """

    bug_id = "eval_mode_missing"
    components = ("evaluation", "normalization", "generation")
    category = Category.EVALUATION
    layer = Layer.EVALUATION
    description = "model.eval() removed: dropout and batch statistics stay on during evaluation"
    symptom = "validation metrics are noisy between runs and worse than training metrics"
    hint = "print model.training inside the evaluation loop"
    fix = "call model.eval() before evaluating (and restore the previous mode after)"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "def evaluate(model, x):\n    model.eval()\n    return model(x)\n",
            "def evaluate(model, x):\n    return model(x)\n",
        ),
    )
    UNCHANGED = (
        "def f(s):\n    s.eval(x)\n    return s\n",
        "class Ema:\n    def __init__(self, model):\n"
        "        self.ema = deepcopy(model)\n        self.ema.eval()\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        function = self.context.function
        if function is not None and function.name.value == "__init__":
            return ()
        return [block for i in indices(node, _is_eval) for block in without(node, i)]
