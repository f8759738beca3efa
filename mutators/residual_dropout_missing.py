from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import first_arg_value, is_residual_dropout


class ResidualDropoutMissing(Mutator):
    """A residual branch is added back without its dropout: ``x + dropout(sub(x))`` becomes
    ``x + sub(x)``.

    The dropout modules are created in ``__init__`` (so the parameter count and the printed model
    look right) but one is never called, often after a refactor that inlined the branch. Nothing
    changes in eval mode and training loss even improves; only the gap between training and
    validation loss grows. Sites: a dropout call that is the branch of a residual update
    (``x = x + dropout(...)``, ``x += dropout(...)``), or that drops a sub-layer's output inside
    the sub-layer before it is returned to the residual stream: ``resid_dropout(c_proj(y))``, a
    dropout right after ``x = self.proj(x)``, a dropout module named ``resid_*``/``proj_drop``.
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
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("x = x + self.dropout1(self.attn(h, h, h))\n", "x = x + self.attn(h, h, h)\n"),
        Example("x += F.dropout(self.ffn(x), self.p, self.training)\n", "x += self.ffn(x)\n"),
        Example("y = self.resid_dropout(self.c_proj(y))\n", "y = self.c_proj(y)\n"),
        Example(
            "def forward(self, x):\n    x = self.proj(x)\n    x = self.drop(x)\n    return x\n",
            "def forward(self, x):\n    x = self.proj(x)\n    x = x\n    return x\n",
        ),
    )
    UNCHANGED = (
        "w = self.dropout(w)\n",
        "x = self.dropout(x + pe)\n",
        "x = x + self.ffn(x)\n",
        "attn = self.attn_drop(attn.softmax(dim=-1))\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if not is_residual_dropout(self.context, node):
            return ()
        return (first_arg_value(node),)
