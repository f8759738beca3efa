from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import replace_nodes
from ._llm_layers import next_token_shift, with_sliced


class LmLossShiftedTheWrongWay(Mutator):
    """The language-model loss shifts the wrong way: the logits at ``t`` predict the token at ``t - 1``.

    ``logits[:, 1:]`` against ``labels[:, :-1]`` instead of ``logits[:, :-1]`` against
    ``labels[:, 1:]``: both slices have the right lengths and the loss is a plausible number.
    A causal model can see the previous token, so the loss drops fast, the model learns to
    repeat the past and generation is useless. Sites: the pair of slices of a next-token shift
    in one function; the two slices trade places.
    """

    bug_id = "lm_loss_shifted_the_wrong_way"
    components = ("lm_loss",)
    category = Category.TARGET
    layer = Layer.TARGET
    description = "the causal LM loss scores logits[t] against labels[t - 1] (shift reversed)"
    symptom = "training loss falls suspiciously fast; the model repeats its input instead of continuing it"
    hint = "for labels [a, b, c], which label do the logits at position 0 face?"
    fix = "shift_logits = logits[:, :-1]; shift_labels = labels[:, 1:]"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "def loss(logits, labels):\n"
            "    shift_logits = logits[:, :-1, :]\n"
            "    shift_labels = labels[:, 1:]\n"
            "    return ce(shift_logits, shift_labels)\n",
            "def loss(logits, labels):\n"
            "    shift_logits = logits[:, 1:, :]\n"
            "    shift_labels = labels[:, :-1]\n"
            "    return ce(shift_logits, shift_labels)\n",
        ),
    )
    UNCHANGED = ("def f(x):\n    return x[:, 1:]\n",)

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        shift = next_token_shift(node)
        if shift is None:
            return ()
        predictions, targets = shift
        swapped = {
            id(predictions): with_sliced(predictions, 1, None),
            id(targets): with_sliced(targets, None, -1),
        }
        return (replace_nodes(node, swapped),)
