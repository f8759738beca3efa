from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._context import name_available
from ._numerics import insert_first, parameter_names

_INDEX_LOSS_WORDS = ("cross_entropy", "nll")
_TARGET_NAMES = ("targets", "target", "labels", "label", "y")


class TargetsWrongDtypeOrOnehot(Mutator):
    """Class-index targets reach an index-based loss one-hot encoded, as floats.

    Data pipelines often one-hot encode labels (for a metric, for mixup, because another
    framework wanted them). A loss that gathers the target's log-probability needs int64
    class indices: with float one-hot targets a hand-written loss fails inside ``gather``,
    and ``F.cross_entropy`` silently reads them as class probabilities, which also turns
    every ``ignore_index`` position into a real target. Sites are cross-entropy / NLL
    functions with a logits-like and a target-like parameter; the encoding goes in as their
    first line, as if the data loader had produced it.
    """

    bug_id = "targets_wrong_dtype_or_onehot"
    components = ("numerics",)
    category = Category.TARGET
    layer = Layer.TARGET
    description = "one-hot float targets passed where int64 class indices are expected"
    symptom = "RuntimeError in gather / 'expected scalar type Long', or a loss that ignores nothing"
    hint = "print targets.dtype and targets.shape right before the loss"
    fix = "pass int64 class indices of shape (N,); keep one-hot encodings out of the loss"
    loud = True
    node_types = (cst.FunctionDef,)
    EXAMPLES = (
        Example(
            "def cross_entropy(logits, targets):\n    return f(logits, targets)\n",
            "def cross_entropy(logits, targets):\n"
            "    targets = torch.nn.functional.one_hot(targets, num_classes=logits.shape[-1]).float()\n"
            "    return f(logits, targets)\n",
        ),
    )
    UNCHANGED = (
        "def binary_cross_entropy_with_logits(logits, targets):\n    return f(logits, targets)\n",
        "def cross_entropy(logits):\n    return f(logits)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.FunctionDef)
        name = node.name.value.lower()
        if not any(word in name for word in _INDEX_LOSS_WORDS) or "binary" in name:
            return ()  # a binary loss takes float targets shaped like its logits: no index there
        if not isinstance(node.body, cst.IndentedBlock):
            return ()
        params = parameter_names(node)
        logits = next((p for p in params if "logit" in p.lower()), None)
        targets = next((p for p in params if p in _TARGET_NAMES), None)
        if logits is None or targets is None:
            return ()
        if not name_available(self.context, "torch"):
            return ()  # the rewrite spells torch: a NameError where it is not imported
        encode = f"torch.nn.functional.one_hot({targets}, num_classes={logits}.shape[-1]).float()"
        return (insert_first(node, f"{targets} = {encode}"),)
