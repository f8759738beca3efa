from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement


class LrSignFlipped(Mutator):
    """The update goes up the gradient: a negated learning rate, or ``backward()`` of ``-loss``.

    Hand-written updates (``p += lr * p.grad``), a sign slip when a loss is turned into a
    reward, or a learning rate passed as ``-lr`` all give gradient ascent: the loss rises
    steadily from the first step. torch's optimizers reject a negative ``lr`` with a
    ``ValueError``, which is why the silent form lives in the backward call. Two kinds of
    site: an ``lr=`` keyword argument (negated) and ``<loss>.backward()`` (the loss negated).
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
    node_types = (cst.Arg, cst.Call)
    EXAMPLES = (
        Example("opt = torch.optim.AdamW(groups, lr=lr)\n", "opt = torch.optim.AdamW(groups, lr=-lr)\n"),
        Example("(loss * w).backward()\n", "(-(loss * w)).backward()\n"),
        Example("loss.backward()\n", "(-loss).backward()\n"),
    )
    UNCHANGED = ("opt = SGD(ps, momentum=0.9)\n", "x.backward(gradient=g)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.Arg):
            if m.matches(node, m.Arg(keyword=m.Name("lr"))) and not isinstance(
                node.value, cst.UnaryOperation
            ):
                return (node.with_changes(value=_negated(node.value)),)
            return ()
        assert isinstance(node, cst.Call)
        if node.args or not m.matches(node.func, m.Attribute(attr=m.Name("backward"))):
            return ()
        assert isinstance(node.func, cst.Attribute)
        ascent = _negated(node.func.value).with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        return (node.with_changes(func=node.func.with_changes(value=ascent)),)


def _negated(expr: cst.BaseExpression) -> cst.UnaryOperation:
    if isinstance(expr, cst.BinaryOperation) and not expr.lpar:
        expr = expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return cst.UnaryOperation(operator=cst.Minus(), expression=expr)
