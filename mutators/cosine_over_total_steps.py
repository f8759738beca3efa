from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import mentions_word, named, without_difference_side


class CosineOverTotalSteps(Mutator):
    """The cosine decay runs over ``total_steps`` instead of ``total_steps - warmup_steps``.

    The decay starts where the warmup ends, so its length is what is left of the run. Dividing
    the progress by the whole run makes the cosine end before its half-way point is passed: at
    the last step the rate is still far above ``min_lr``, then drops to it at once (or never
    gets there). The longer the warmup, the larger the gap. Sites: ``total - warmup`` in the
    denominator of the decay's progress, replaced by ``total``.
    """

    bug_id = "cosine_over_total_steps"
    components = ("schedule",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "cosine decay divided by total_steps instead of total_steps - warmup_steps"
    symptom = "the learning rate is still high at the end of training, then jumps to the floor"
    hint = "print the learning rate at total_steps - 1: is it close to min_lr?"
    fix = "progress = (step - warmup_steps) / (total_steps - warmup_steps)"
    node_types = (cst.BinaryOperation,)
    EXAMPLES = (
        Example(
            "decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)\n",
            "decay_ratio = (it - warmup_iters) / lr_decay_iters\n",
        ),
        Example(
            "progress = float(current_step - num_warmup_steps)"
            " / float(max(1, num_training_steps - num_warmup_steps))\n",
            "progress = float(current_step - num_warmup_steps) / float(max(1, num_training_steps))\n",
        ),
    )
    UNCHANGED = ("x = (step - warmup) / total\n", "y = (a - b) / (c - d)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.BinaryOperation)
        if not isinstance(node.operator, cst.Divide):
            return ()
        return without_difference_side(
            node,
            node.right,
            lambda right: mentions_word(right, "warmup"),
            lambda left: named(left, "total", "decay", "max", "training", "steps", "iters"),
        )
