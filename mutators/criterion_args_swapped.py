from __future__ import annotations

import re
from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, SiteContext

from ._context import code, words
from ._patterns import callee_name, dotted_name

_CRITERION = re.compile(r"^(criterion|loss_fn|loss_func|loss_function|lossfn|loss_module)$")
#: losses symmetric in their arguments: swapped, they compute the same thing
_SYMMETRIC = frozenset(("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "mse_loss", "l1_loss"))
#: losses of class-index targets: swapped, the long targets are refused at once
_INDEX_TARGETS = frozenset(("NLLLoss", "CrossEntropyLoss", "nll_loss", "cross_entropy"))


class CriterionArgsSwapped(Mutator):
    """The loss is called as ``criterion(targets, outputs)`` instead of ``(outputs, targets)``.

    PyTorch losses take the prediction first. With a symmetric loss (MSE, L1) the swap is
    harmless, which is how the habit survives regression code; moved to classification it
    crashes on class-index targets or, with soft targets, silently optimizes a different
    objective (the targets' log-softmax weighted by the predictions). Sites: calls of a
    criterion object (``criterion``, ``loss_fn``, ...) with exactly two positional arguments,
    unless what the criterion is (the loss it was built as, in this module, under its name) says
    that the swap changes nothing (MSE, L1) or can only fail (``NLLLoss``/``CrossEntropyLoss`` of
    class indices), or the function scores the same outputs against the targets as classes
    (an accuracy, an argmax compared with the targets): the targets are class indices there.
    """

    bug_id = "criterion_args_swapped"
    # not evaluation: its contract scores class-index targets, where the swap can only fail
    components = ("training", "grad_clip", "optimization")
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
        "criterion = nn.NLLLoss()\nloss = criterion(output, target)\n",
        "criterion = nn.MSELoss()\nloss = criterion(pred, y)\n",
        "def validate(model, x, y, loss_fn):\n"
        "    out = model(x)\n    loss = loss_fn(out, y)\n    acc = accuracy(out, y)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        name = callee_name(node)
        if name is None or not _CRITERION.match(name) or len(node.args) != 2:
            return ()
        first, second = node.args
        if first.keyword is not None or second.keyword is not None or first.star or second.star:
            return ()
        if not _swap_can_be_silent(self.context, node):
            return ()
        return (
            node.with_changes(
                args=[first.with_changes(value=second.value), second.with_changes(value=first.value)]
            ),
        )


def _swap_can_be_silent(context: SiteContext, call: cst.Call) -> bool:
    """Whether swapping the criterion's arguments may run and compute something else."""
    kinds = {_loss_kind(v) for v in _constructions(context, call.func)}
    if kinds & (_SYMMETRIC | _INDEX_TARGETS) and not kinds - (_SYMMETRIC | _INDEX_TARGETS):
        return False
    function = context.function
    if function is None or kinds - (_SYMMETRIC | _INDEX_TARGETS):
        return True
    outputs = code(call.args[0].value)
    return not _scored_as_classes(function, outputs)


def _constructions(context: SiteContext, criterion: cst.BaseExpression) -> list[cst.BaseExpression]:
    """What the criterion was built as: its assignment in this function or class, else any
    assignment of the same name in the module (a parameter usually gets the variable of the
    same name)."""
    found = context.value_of(criterion)
    if found is not None:
        return [found]
    name = dotted_name(criterion)
    return [] if name is None else context.module_assignments(name.split(".")[-1])


def _loss_kind(value: cst.BaseExpression) -> str:
    """``CrossEntropyLoss`` for ``nn.CrossEntropyLoss(...).to(device)``."""
    while (
        isinstance(value, cst.Call)
        and isinstance(value.func, cst.Attribute)
        and value.func.attr.value
        in (
            "to",
            "cuda",
        )
    ):
        value = value.func.value
    return (callee_name(value) or "") if isinstance(value, cst.Call) else ""


def _scored_as_classes(function: cst.FunctionDef, outputs: str) -> bool:
    """Whether ``function`` reads ``outputs`` as class scores: an argmax or top-k of them, or an
    accuracy of them."""
    for call in m.findall(function, m.Call()):
        assert isinstance(call, cst.Call)
        name = callee_name(call) or ""
        if name in ("argmax", "topk", "max") and isinstance(call.func, cst.Attribute):
            if code(call.func.value).startswith(outputs):
                return True
        if "accuracy" in words(name) or name.startswith("acc"):
            if call.args and code(call.args[0].value).startswith(outputs):
                return True
    return False
