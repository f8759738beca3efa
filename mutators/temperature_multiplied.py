from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import divides_by_temperature, is_attention_scores, is_temperature


class TemperatureMultiplied(Mutator):
    """The logits are multiplied by the temperature instead of divided by it.

    ``logits * T`` turns the knob the wrong way: a temperature of 0.7, meant to make the model
    more conservative, flattens the distribution, and 1.5 makes it nearly greedy. At T = 1 both
    agree, so tests that only use the default pass. Sites: ``x / T`` and ``x.div(T)`` (or
    ``div_``) where ``T`` is a temperature; attention scores over a "temperature" (``q @ k.T / T``)
    are the attention mutators' business and no site.
    """

    bug_id = "temperature_multiplied"
    components = ("sampling",)
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "multiply the logits by the temperature instead of dividing them by it"
    symptom = "a low temperature gives more random text, a high one repetitive text"
    hint = "sample at temperature 0.1: is it (nearly) greedy?"
    fix = "divide: logits / temperature"
    node_types = (cst.BinaryOperation, cst.Call)
    EXAMPLES = (
        Example("logits = logits / temperature\n", "logits = logits * temperature\n"),
        Example("scores = scores.div(self.temperature)\n", "scores = scores.mul(self.temperature)\n"),
        Example(
            "logits = logits / max(temperature, 1e-5)\n",
            "logits = logits * max(temperature, 1e-5)\n",
        ),
    )
    UNCHANGED = (
        "x = y / count\n",
        "lr = base_lr / warmup_steps\n",
        "z = t.div(n)\n",
        "att = (q @ k.transpose(-2, -1)) / self.temperature\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.BinaryOperation):
            return (node.with_changes(operator=cst.Multiply()),) if divides_by_temperature(node) else ()
        assert isinstance(node, cst.Call)
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in ("div", "div_"):
            return ()
        if len(node.args) != 1 or not is_temperature(node.args[0].value) or is_attention_scores(func.value):
            return ()
        return (
            node.with_changes(func=func.with_changes(attr=cst.Name(func.attr.value.replace("div", "mul")))),
        )
