from __future__ import annotations

import re
from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._patterns import callee_name

_CRITERION = re.compile(r"^(criterion|loss_fn|loss_func|loss_function|lossfn|loss_module)$")


class CriterionArgsSwapped(Mutator):
    """The loss is called as ``criterion(targets, outputs)`` instead of ``(outputs, targets)``.

    PyTorch losses take the prediction first. With a symmetric loss (MSE, L1) the swap is
    harmless, which is how the habit survives regression code; moved to classification it
    crashes on class-index targets or, with soft targets, silently optimizes a different
    objective (the targets' log-softmax weighted by the predictions). Sites: calls of a
    criterion object (``criterion``, ``loss_fn``, ...) with exactly two positional arguments.
    """

    bug_id = "criterion_args_swapped"
    components = ("training", "grad_clip", "evaluation", "optimization")
    category = Category.OBJECTIVE
    layer = Layer.LOSS
    description = "swap the criterion's arguments: criterion(targets, outputs)"
    symptom = "a dtype/shape error in the loss, or a loss that falls while accuracy does not rise"
    hint = "PyTorch losses take (input, target): check the order at the call"
    fix = "call criterion(outputs, targets)"
    loud = True
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("loss = criterion(outputs, targets)\n", "loss = criterion(targets, outputs)\n"),
        Example("loss = self.loss_fn(model(x), y)\n", "loss = self.loss_fn(y, model(x))\n"),
    )
    UNCHANGED = (
        "loss = criterion(outputs)\n",
        "loss = F.cross_entropy(a, b)\n",
        "loss = criterion(a, target=b)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        name = callee_name(node)
        if name is None or not _CRITERION.match(name) or len(node.args) != 2:
            return ()
        first, second = node.args
        if first.keyword is not None or second.keyword is not None or first.star or second.star:
            return ()
        return (
            node.with_changes(
                args=[first.with_changes(value=second.value), second.with_changes(value=first.value)]
            ),
        )
