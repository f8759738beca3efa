from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

_REQUIRES_GRAD = m.Attribute(attr=m.Name("requires_grad"))


class FrozenParamsInOptimizer(Mutator):
    """The ``requires_grad`` filter is dropped: frozen parameters are handed to the optimizer.

    A frozen backbone or embedding has no gradient, so plain SGD skips it and nothing seems
    wrong; but optimizer state is allocated for it, the parameter groups no longer say what is
    trained, and once anything gives it a gradient (unfreezing a layer for a later stage, a
    weight tied to a trained one) AdamW's weight decay and updates move weights meant to
    stay fixed. A site is ``if not p.requires_grad: continue`` (removed) or a comprehension
    filter ``if p.requires_grad`` (dropped).
    """

    bug_id = "frozen_params_in_optimizer"
    components = ("optimization",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "pass frozen (requires_grad=False) parameters to the optimizer"
    symptom = "frozen layers drift after unfreezing or tying; optimizer state larger than the trainable model"
    hint = "list the optimizer's parameters and compare with those that require grad"
    fix = "skip parameters with requires_grad=False when building the groups"
    node_types = (cst.If, cst.CompFor)
    EXAMPLES = (
        Example(
            "for p in ps:\n    if not p.requires_grad:\n        continue\n    keep.append(p)\n",
            "for p in ps:\n    keep.append(p)\n",
        ),
        Example("keep = [p for p in ps if p.requires_grad]\n", "keep = [p for p in ps]\n"),
    )
    UNCHANGED = ("for p in ps:\n    if p.grad is None:\n        continue\n",)

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.CompFor):
            kept = [c for c in node.ifs if not m.matches(c.test, _REQUIRES_GRAD)]
            return (node.with_changes(ifs=kept),) if len(kept) < len(node.ifs) else ()
        assert isinstance(node, cst.If)
        skips_frozen = m.matches(node.test, m.UnaryOperation(operator=m.Not(), expression=_REQUIRES_GRAD))
        only_continue = m.matches(
            node.body, m.IndentedBlock(body=[m.SimpleStatementLine(body=[m.Continue()])])
        )
        if skips_frozen and only_continue and node.orelse is None:
            return (cst.RemoveFromParent(),)
        return ()
