from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._context import mentions_word
from ._patterns import callee_name, replace_arg

#: torch's optimizers: each refuses a negative learning rate with a ValueError at once
_TORCH_OPTIMIZERS = frozenset(
    (
        "SGD",
        "Adam",
        "AdamW",
        "Adadelta",
        "Adagrad",
        "Adamax",
        "ASGD",
        "LBFGS",
        "NAdam",
        "RAdam",
        "RMSprop",
        "Rprop",
        "SparseAdam",
        "Adafactor",
    )
)


class LrSignFlipped(Mutator):
    """The update goes up the gradient: a negated learning rate, or ``backward()`` of ``-loss``.

    Hand-written updates (``p += lr * p.grad``), a sign slip when a loss is turned into a
    reward, or a learning rate passed as ``-lr`` all give gradient ascent: the loss rises
    steadily from the first step. torch's optimizers reject a negative ``lr`` with a
    ``ValueError``, which is why the silent form lives in the backward call and in hand-written
    updates. Sites: ``<loss>.backward()`` (the loss negated); a hand-written step
    ``p -= lr * p.grad`` (``+=``) or ``p.add_(p.grad, alpha=-lr)`` (the sign of ``alpha``
    flipped); and the ``lr=`` argument (negated) of a function of the same module whose body
    updates with gradients. An ``lr=`` given to a torch optimizer (it raises at once) or to a
    logger is no site.
    """

    bug_id = "lr_sign_flipped"
    components = ("optimization", "training", "grad_clip", "schedule", "amp")
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "step up the gradient instead of down (negated learning rate or loss)"
    symptom = "loss rises steadily from the first step, then NaN"
    hint = "take one step on one batch: the loss on that batch must go down"
    fix = "descend: p -= lr * grad, a positive lr, and backward() of the loss itself"
    loud = True
    node_types = (cst.Arg, cst.Call, cst.AugAssign)
    EXAMPLES = (
        Example(
            "def sgd_step(params, lr):\n    for p in params:\n        p.data -= lr * p.grad\n"
            "sgd_step(model.parameters(), lr=lr)\n",
            "def sgd_step(params, lr):\n    for p in params:\n        p.data -= lr * p.grad\n"
            "sgd_step(model.parameters(), lr=-lr)\n",
            site=1,
        ),
        Example("(loss * w).backward()\n", "(-(loss * w)).backward()\n"),
        Example("loss.backward()\n", "(-loss).backward()\n"),
        Example("p.data.add_(p.grad, alpha=-lr)\n", "p.data.add_(p.grad, alpha=lr)\n"),
        Example("w -= lr * w.grad\n", "w += lr * w.grad\n"),
        Example("scaler.scale(loss).backward()\n", "(-scaler.scale(loss)).backward()\n"),
    )
    UNCHANGED = (
        "opt = SGD(ps, momentum=0.9)\n",
        "x.backward(gradient=g)\n",
        "opt = torch.optim.AdamW(groups, lr=lr)\n",
        "optimizer = optim.Adadelta(model.parameters(), lr=args.lr)\n",
        "update_summary(epoch, metrics, lr=sum(lrs) / len(lrs))\n",
        "n -= 1\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.Arg):
            return self._lr_argument(node)
        if isinstance(node, cst.AugAssign):
            if isinstance(node.operator, cst.SubtractAssign) and mentions_word(node.value, "grad"):
                op = node.operator
                return (
                    node.with_changes(
                        operator=cst.AddAssign(
                            whitespace_before=op.whitespace_before, whitespace_after=op.whitespace_after
                        )
                    ),
                )
            return ()
        assert isinstance(node, cst.Call)
        if callee_name(node) in ("add_", "sub_") and any(mentions_word(a.value, "grad") for a in node.args):
            for i, arg in enumerate(node.args):
                if m.matches(arg, m.Arg(keyword=m.Name("alpha"))):
                    return (replace_arg(node, i, _flipped(arg.value)),)
            return ()
        if node.args or not m.matches(node.func, m.Attribute(attr=m.Name("backward"))):
            return ()
        assert isinstance(node.func, cst.Attribute)
        ascent = _negated(node.func.value).with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        return (node.with_changes(func=node.func.with_changes(value=ascent)),)

    def _lr_argument(self, node: cst.Arg) -> Sequence[Replacement]:
        if not m.matches(node, m.Arg(keyword=m.Name("lr"))) or isinstance(node.value, cst.UnaryOperation):
            return ()
        call = self.context.parent
        if not isinstance(call, cst.Call) or not _updates_with_gradients(self.context.module, call):
            return ()
        return (node.with_changes(value=_negated(node.value)),)


def _updates_with_gradients(module: cst.Module | None, call: cst.Call) -> bool:
    """Whether ``call`` calls a function of ``module`` that takes ``lr`` and reads gradients:
    a hand-written update, not a torch optimizer (which raises on a negative lr) or a logger."""
    name = callee_name(call)
    if module is None or name is None or name in _TORCH_OPTIMIZERS:
        return False
    for function in m.findall(module, m.FunctionDef(name=m.Name(name))):
        assert isinstance(function, cst.FunctionDef)
        params = {p.name.value for p in function.params.params}
        if "lr" in params and mentions_word(function.body, "grad"):
            return True
    return False


def _negated(expr: cst.BaseExpression) -> cst.UnaryOperation:
    if isinstance(expr, cst.BinaryOperation) and not expr.lpar:
        expr = expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return cst.UnaryOperation(operator=cst.Minus(), expression=expr)


def _flipped(expr: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        return expr.expression
    return _negated(expr)
