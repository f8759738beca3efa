from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import calls_named, is_temperature
from ._patterns import with_leading_lines


def _compares_temperature_with_zero(test: cst.BaseExpression) -> str | None:
    """``"zero"`` for ``T == 0`` / ``T <= 0``, ``"positive"`` for ``T > 0`` / ``T != 0``."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    target = test.comparisons[0]
    if not is_temperature(test.left) or not m.matches(target.comparator, m.Integer("0") | m.Float("0.0")):
        return None
    if isinstance(target.operator, (cst.Equal, cst.LessThanEqual)):
        return "zero"
    if isinstance(target.operator, (cst.GreaterThan, cst.NotEqual)):
        return "positive"
    return None


class ZeroTemperatureDivides(Mutator):
    """Temperature 0 is not special-cased: the logits are divided by zero.

    Greedy decoding is written as temperature 0 and must be an argmax: ``logits / 0`` is
    ``inf``, ``-inf`` or NaN, the softmax is NaN, and ``torch.multinomial`` raises (on some
    devices it silently returns garbage). It hides because sampling tests use temperatures
    like 0.7 or 1. Sites: the greedy branch ``if temperature == 0: return argmax`` (removed), or
    the sampling branch ``if temperature > 0:`` whose body draws (run unconditionally).
    """

    bug_id = "zero_temperature_divides"
    components = ("sampling",)
    category = Category.NUMERICS
    layer = Layer.EVALUATION
    description = "temperature 0 falls through to logits / temperature instead of an argmax"
    symptom = "greedy decoding raises 'probability tensor contains inf, nan or element < 0'"
    hint = "call the sampler with temperature=0"
    fix = "if temperature == 0: return logits.argmax(dim=-1) before dividing"
    loud = True
    node_types = (cst.If,)
    EXAMPLES = (
        Example(
            "def sample(logits, temperature):\n"
            "    if temperature == 0:\n"
            "        return logits.argmax(dim=-1)\n"
            "    return torch.multinomial(torch.softmax(logits / temperature, -1), 1)\n",
            "def sample(logits, temperature):\n"
            "    return torch.multinomial(torch.softmax(logits / temperature, -1), 1)\n",
        ),
        Example(
            "def sample(logits, temperature):\n"
            "    if temperature > 0.0:\n"
            "        probs = torch.softmax(logits / temperature, dim=-1)\n"
            "        return torch.multinomial(probs, num_samples=1)\n"
            "    return torch.argmax(logits, dim=-1, keepdim=True)\n",
            "def sample(logits, temperature):\n"
            "    probs = torch.softmax(logits / temperature, dim=-1)\n"
            "    return torch.multinomial(probs, num_samples=1)\n"
            "    return torch.argmax(logits, dim=-1, keepdim=True)\n",
        ),
    )
    UNCHANGED = (
        "def f(x, temperature):\n    if temperature == 0:\n        x = 1\n    return x\n",
        "def f(x, n):\n    if n == 0:\n        return x.argmax(-1)\n    return x\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.If)
        kind = _compares_temperature_with_zero(node.test)
        if kind is None or node.orelse is not None or not isinstance(node.body, cst.IndentedBlock):
            return ()
        if kind == "zero" and calls_named(node.body, "argmax") and m.findall(node.body, m.Return()):
            return (cst.RemovalSentinel.REMOVE,)
        if kind == "positive" and calls_named(node.body, "multinomial", "exponential_"):
            statements = list(node.body.body)
            first = statements[0]
            statements[0] = with_leading_lines(first, node.leading_lines)
            return (cst.FlattenSentinel(statements),)
        return ()
