from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import replace_nodes
from ._llm_layers import next_token_shift


class LmLossLabelsNotShifted(Mutator):
    """The language-model loss scores each position against its own token instead of the next one.

    Labels come aligned with the inputs (Hugging Face's ``labels = input_ids``), so the loss must
    shift: the logits at ``t`` predict the token at ``t + 1``. Without the shift the model is
    trained to copy its input, which a causal model sees: the loss falls to near zero within a
    few steps and generation is garbage. Sites: the pair of slices of a next-token shift in one
    function (``logits[..., :-1, :]`` and ``labels[..., 1:]``, in one statement or two); both
    slices are dropped.
    """

    bug_id = "lm_loss_labels_not_shifted"
    components = ("lm_loss",)
    category = Category.TARGET
    layer = Layer.TARGET
    description = "the causal LM loss scores logits[t] against labels[t] instead of labels[t + 1]"
    symptom = "training loss drops to near zero at once; generation repeats or is garbage"
    hint = "which token should the logits at position t be scored against?"
    fix = "shift_logits = logits[:, :-1]; shift_labels = labels[:, 1:]"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "def loss(logits, labels):\n"
            "    shift_logits = logits[..., :-1, :].contiguous()\n"
            "    shift_labels = labels[..., 1:].contiguous()\n"
            "    return F.cross_entropy(shift_logits.view(-1, V), shift_labels.view(-1))\n",
            "def loss(logits, labels):\n"
            "    shift_logits = logits.contiguous()\n"
            "    shift_labels = labels.contiguous()\n"
            "    return F.cross_entropy(shift_logits.view(-1, V), shift_labels.view(-1))\n",
        ),
        Example(
            "def step(data):\n    x, y = data[:, :-1], data[:, 1:]\n    return model(x, y)\n",
            "def step(data):\n    x, y = data, data\n    return model(x, y)\n",
        ),
    )
    UNCHANGED = (
        "def f(x):\n    return x[:, :-1]\n",
        "def f(x, y):\n    return x[:, :-2], y[:, 1:]\n",
        "def f(losses):\n    return losses[:, 1:] - losses[:, :-1]\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        shift = next_token_shift(node)
        if shift is None:
            return ()
        predictions, targets = shift
        unshifted = replace_nodes(node, {id(predictions): predictions.value, id(targets): targets.value})
        return (unshifted,)
