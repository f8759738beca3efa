from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._patterns import callee_name


class PeDropoutSkipped(Mutator):
    """The dropout after adding the positional encoding is never applied.

    The module is built with ``nn.Dropout(p)`` but ``forward`` returns ``x + pe`` directly
    (often after a refactor that split the line in two). Nothing crashes, eval results are
    identical, and the only trace is a model that overfits sooner than the paper's recipe
    predicts. A site is a call of a module attribute whose name contains ``drop``
    (``self.dropout(x)``) or of ``F.dropout(x, ...)``: the call is replaced by its input.
    """

    bug_id = "pe_dropout_skipped"
    components = ("positional_encoding",)
    category = Category.OPTIMIZATION
    layer = Layer.EVALUATION
    description = "skip the dropout after adding the positional encoding"
    symptom = "the model overfits: training loss keeps falling while validation loss rises"
    hint = "with dropout=1.0 in train mode the output must be all zeros"
    fix = "return self.dropout(x + self.pe[:, : x.size(1)])"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("x = self.dropout(x)\n", "x = x\n"),
        Example("y = F.dropout(x + p, self.p, self.training)\n", "y = x + p\n"),
    )
    UNCHANGED = ("y = self.norm(x)\n", "y = self.dropout\n", "y = drop(x)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if not node.args or node.args[0].keyword is not None or node.args[0].star:
            return ()
        func = node.func
        module_call = m.matches(func, m.Attribute(value=m.Name("self"))) and "drop" in (
            callee_name(node) or ""
        )
        functional = callee_name(node) == "dropout" and m.matches(func, m.Attribute(value=m.Name("F")))
        if (module_call and len(node.args) == 1) or functional:
            return (node.args[0].value,)
        return ()
