from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import divides_by_temperature, mentions_word, method_call


class TemperatureOnProbabilities(Mutator):
    """The temperature divides the probabilities instead of the logits.

    ``softmax(logits / T)`` sharpens (T < 1) or flattens (T > 1) the distribution;
    ``softmax(logits) / T`` only rescales it, and ``torch.multinomial`` renormalizes whatever it
    is given, so the temperature has no effect at all, or (fed to another softmax) flattens
    every distribution towards uniform. Generation looks plausible, only never as sharp or as
    creative as asked. Sites: a division by a temperature (``temperature``, ``temp``, ``tau``,
    ``max(temperature, eps)``) of something that is not already a softmax (nor attention scores,
    which some code also divides by a "temperature").
    """

    bug_id = "temperature_on_probabilities"
    components = ("sampling",)
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "apply the sampling temperature to the probabilities instead of the logits"
    symptom = "changing the temperature barely changes the generations"
    hint = "compare the top token's probability at temperature 0.5 and 2"
    fix = "divide the logits by the temperature before the softmax: softmax(logits / T)"
    node_types = (cst.BinaryOperation,)
    EXAMPLES = (
        Example(
            "scores_processed = scores / self.temperature\n",
            "scores_processed = scores.softmax(dim=-1) / self.temperature\n",
        ),
        Example(
            "logits = logits[:, -1, :] / temperature\n",
            "logits = logits[:, -1, :].softmax(dim=-1) / temperature\n",
        ),
        Example(
            "probs = torch.nn.functional.softmax(logits / max(temperature, 1e-5), dim=-1)\n",
            "probs = torch.nn.functional.softmax(logits.softmax(dim=-1) / max(temperature, 1e-5), dim=-1)\n",
        ),
    )
    UNCHANGED = (
        "probs = torch.softmax(logits, dim=-1) / temperature\n",
        "x = total / count\n",
        "y = 1.0 / temperature\n",
        "z = path / temp_dir\n",
        "att = torch.matmul(q, k.transpose(-2, -1)) / self.temperature\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.BinaryOperation)
        if not divides_by_temperature(node) or mentions_word(node.left, "softmax", "prob"):
            return ()
        softmax = method_call(node.left, "softmax(dim=-1)")
        return (node.with_changes(left=softmax),)
