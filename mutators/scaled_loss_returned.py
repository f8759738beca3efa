from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import replace_node
from ._llm_runtime import named, same_code


def _scaler_scales(function: cst.FunctionDef) -> list[cst.Call]:
    """Every ``scaler.scale(loss)`` call of ``function`` with a plain name as its loss."""
    found = []
    for call in m.findall(
        function, m.Call(func=m.Attribute(attr=m.Name("scale")), args=[m.Arg(value=m.Name())])
    ):
        assert isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
        if named(call.func.value, "scaler"):
            found.append(call)
    return found


class ScaledLossReturned(Mutator):
    """The loss that is returned or logged is the scaled one.

    ``scaler.scale(loss)`` is the loss times the current scale (65536 at the start, then
    halved and doubled as the scaler adapts). Reporting it instead of ``loss`` makes the loss
    curve thousands of times too large and jump whenever the scale changes, and early stopping
    or a NaN check on it reacts to the scale, not to training. Sites: ``loss.item()`` in a
    function that backpropagates ``scaler.scale(loss)``, replaced by the scaled loss's item.
    """

    bug_id = "scaled_loss_returned"
    components = ("amp",)
    category = Category.OBJECTIVE
    layer = Layer.LOSS
    description = "report the scaler's scaled loss instead of the loss"
    symptom = "the logged loss is about 65536 times too large and jumps when the scale changes"
    hint = "compare the reported loss with a float32 forward pass on the same batch"
    fix = "return loss.item(), not scaler.scale(loss).item()"
    node_types = (cst.FunctionDef,)
    EXAMPLES = (
        Example(
            "def train_step(model, batch, scaler):\n"
            "    loss = model(batch)\n"
            "    scaler.scale(loss).backward()\n"
            "    return loss.item()\n",
            "def train_step(model, batch, scaler):\n"
            "    loss = model(batch)\n"
            "    scaler.scale(loss).backward()\n"
            "    return scaler.scale(loss).item()\n",
        ),
    )
    UNCHANGED = (
        "def f(model, batch):\n    loss = model(batch)\n    loss.backward()\n    return loss.item()\n",
        "def f(scaler, loss):\n    scaler.scale(loss).backward()\n    return other.item()\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.FunctionDef)
        found = []
        for scale in _scaler_scales(node):
            loss = scale.args[0].value
            for item in m.findall(node.body, m.Call(func=m.Attribute(attr=m.Name("item")), args=[])):
                assert isinstance(item, cst.Call) and isinstance(item.func, cst.Attribute)
                if same_code(item.func.value, loss):
                    scaled = item.with_changes(func=item.func.with_changes(value=scale))
                    found.append(replace_node(node, item, scaled))
        return found
