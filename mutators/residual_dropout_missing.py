from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._attention import first_arg_value, is_dropout_call, residual_update


class ResidualDropoutMissing(Mutator):
    """A residual branch is added back without its dropout: ``x + dropout(sub(x))`` becomes
    ``x + sub(x)``.

    The dropout modules are created in ``__init__`` (so the parameter count and the printed model
    look right) but one is never called, often after a refactor that inlined the branch. Nothing
    changes in eval mode and training loss even improves; only the gap between training and
    validation loss grows. Sites: a dropout call that is the branch of a residual update
    ``x = x + dropout(...)`` / ``x += dropout(...)``.
    """

    bug_id = "residual_dropout_missing"
    components = ("decoder",)
    category = Category.OPTIMIZATION
    layer = Layer.EVALUATION
    description = (
        "skip the dropout on a residual branch (x + sublayer(x) instead of x + dropout(sublayer(x)))"
    )
    symptom = (
        "the model overfits: training loss falls well below validation loss; dropout seems to do nothing"
    )
    hint = (
        "in training mode with dropout=1, every residual branch should vanish and the output equal the input"
    )
    fix = "x = x + self.dropout(sublayer(norm(x)))"
    node_types = (cst.Assign, cst.AugAssign)
    EXAMPLES = (
        Example("x = x + self.dropout1(self.attn(h, h, h))\n", "x = x + self.attn(h, h, h)\n"),
        Example("x += F.dropout(self.ffn(x), self.p, self.training)\n", "x += self.ffn(x)\n"),
    )
    UNCHANGED = ("w = self.dropout(w)\n", "x = self.dropout(x + pe)\n", "x = x + self.ffn(x)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        found = residual_update(node)
        if found is None or not is_dropout_call(found[1]):
            return ()
        branch = found[1]
        assert isinstance(branch, cst.Call)
        undropped = first_arg_value(branch)
        if isinstance(node, cst.AugAssign):
            return (node.with_changes(value=undropped),)
        assert isinstance(node, cst.Assign) and isinstance(node.value, cst.BinaryOperation)
        return (node.with_changes(value=node.value.with_changes(right=undropped)),)
