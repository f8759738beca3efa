from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._context import name_available
from ._numerics import insert_first, parameter_names

_LOSS_WORDS = ("entropy", "loss", "nll", "bce")
_BINARY_WORDS = ("binary", "bce", "sigmoid")


class SoftmaxBeforeLogitsLoss(Mutator):
    """Logits are squashed (softmax, or sigmoid for a binary loss) before a loss that
    expects raw logits.

    ``F.cross_entropy`` and ``binary_cross_entropy_with_logits`` apply their own
    (log-)softmax or sigmoid; a model whose last layer already ends in ``softmax`` hands them
    probabilities in [0, 1], which the loss treats as logits. The loss can no longer go below
    about ``log(C) - 1``, the gradients shrink by the softmax's slope, and training crawls
    or stalls. Nothing crashes and the numbers look plausible. Sites are loss functions (a
    name with entropy/loss/nll/bce) with a parameter named like ``logits``; the squashing
    goes in as their first line, as if the caller had done it.
    """

    bug_id = "softmax_before_logits_loss"
    components = ("numerics", "lm_loss")
    category = Category.OBJECTIVE
    layer = Layer.LOSS
    description = "softmax/sigmoid applied to the logits before a loss that expects logits"
    symptom = "loss is flat, stuck well above zero; accuracy improves very slowly"
    hint = "check whether the model's output already went through softmax/sigmoid"
    fix = "feed raw logits to cross_entropy / binary_cross_entropy_with_logits; softmax only for reporting"
    node_types = (cst.FunctionDef,)
    EXAMPLES = (
        Example(
            'def cross_entropy(logits, targets):\n    """Doc."""\n    return nll(logits, targets)\n',
            'def cross_entropy(logits, targets):\n    """Doc."""\n'
            "    logits = torch.softmax(logits, dim=-1)\n    return nll(logits, targets)\n",
        ),
        Example(
            "def bce_loss(logit, y):\n    return f(logit, y)\n",
            "def bce_loss(logit, y):\n    logit = torch.sigmoid(logit)\n    return f(logit, y)\n",
        ),
    )
    UNCHANGED = (
        "def log_softmax(logits, dim=-1):\n    return f(logits)\n",
        "def cross_entropy(probs, targets):\n    return f(probs, targets)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.FunctionDef)
        name = node.name.value.lower()
        if not any(word in name for word in _LOSS_WORDS):
            return ()
        logits = next((p for p in parameter_names(node) if "logit" in p.lower()), None)
        if logits is None or not isinstance(node.body, cst.IndentedBlock):
            return ()
        if not name_available(self.context, "torch"):
            return ()  # the rewrite spells torch: a NameError where it is not imported
        if any(word in name for word in _BINARY_WORDS):
            return (insert_first(node, f"{logits} = torch.sigmoid({logits})"),)
        return (insert_first(node, f"{logits} = torch.softmax({logits}, dim=-1)"),)
