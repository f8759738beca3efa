from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import is_literal, last_name
from ._state import without_arg


def _is_generator(expr: cst.BaseExpression) -> bool:
    """A variable named like a generator (``generator``, ``self.rng``), not ``None``."""
    name = last_name(expr)
    return name is not None and name.endswith(("generator", "rng"))


class GeneratorNotPassed(Mutator):
    """A draw uses torch's global random generator instead of the one it was given.

    The ``generator`` argument is accepted and then not passed on (to ``torch.multinomial``,
    ``torch.randperm``, a sampling helper). Every draw still looks random; only reproducibility
    breaks: the same seed gives other generations or another data order, and the draw shifts
    every later use of the global RNG (dropout masks, initialisation). Sites: an argument
    ``generator=gen`` (or a last positional argument named like a generator) of a call,
    dropped.
    """

    bug_id = "generator_not_passed"
    components = ("sampling", "generation", "collate", "data")
    category = Category.STATE_DEVICE
    layer = Layer.EVALUATION
    description = "draw from torch's global RNG instead of the generator that was passed in"
    symptom = "the same seed gives different generations (or data orders) from run to run"
    hint = "seed a torch.Generator twice with the same seed: are the draws equal?"
    fix = "pass generator=generator to every torch.multinomial / randperm / rand call"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "next_tokens = torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)\n",
            "next_tokens = torch.multinomial(probs, num_samples=1).squeeze(1)\n",
        ),
        Example(
            "indices = torch.randperm(len(self.dataset), generator=g).tolist()\n",
            "indices = torch.randperm(len(self.dataset)).tolist()\n",
        ),
        Example(
            "next_token = sample(logits[:, -1], temperature, top_k, generator)\n",
            "next_token = sample(logits[:, -1], temperature, top_k)\n",
        ),
    )
    UNCHANGED = (
        "x = torch.multinomial(probs, 1)\n",
        "x = torch.randperm(n, generator=None)\n",
        "loader = DataLoader(ds, batch_size=4)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        for index, arg in enumerate(node.args):
            if (
                arg.keyword is not None
                and arg.keyword.value == "generator"
                and not is_literal(arg.value, "None")
            ):
                return (without_arg(node, index),)
        positional = [i for i, a in enumerate(node.args) if a.keyword is None and not a.star]
        if len(positional) >= 2 and positional[-1] == len(node.args) - 1:
            if _is_generator(node.args[-1].value):
                return (without_arg(node, len(node.args) - 1),)
        return ()
