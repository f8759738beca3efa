from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import is_step_counter, mentions_word, without_difference_side


class CosineNotOffsetByWarmup(Mutator):
    """The cosine's progress counts from step 0 instead of from the end of the warmup.

    ``(step - warmup) / (total - warmup)`` is 0 when the decay starts. Without the offset the
    decay begins part-way down the cosine: the rate drops abruptly right after the warmup, and
    reaches past the trough (rising again) before ``total_steps``. Short warmups hide it.
    Sites: ``step - warmup`` in the numerator of a division whose denominator mentions the
    warmup too, replaced by ``step``.
    """

    bug_id = "cosine_not_offset_by_warmup"
    components = ("schedule",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "cosine progress measured from step 0 instead of from the end of the warmup"
    symptom = "the learning rate drops abruptly after the warmup and rises again near the end"
    hint = "is the learning rate of the first step after the warmup equal to the peak?"
    fix = "progress = (step - warmup_steps) / (total_steps - warmup_steps)"
    node_types = (cst.BinaryOperation,)
    EXAMPLES = (
        Example(
            "decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)\n",
            "decay_ratio = it / (lr_decay_iters - warmup_iters)\n",
        ),
        Example(
            "progress = float(current_step - num_warmup_steps)"
            " / float(max(1, num_training_steps - num_warmup_steps))\n",
            "progress = float(current_step) / float(max(1, num_training_steps - num_warmup_steps))\n",
        ),
    )
    UNCHANGED = ("x = (step - warmup) / total\n", "y = (step - offset) / (total - warmup)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.BinaryOperation)
        if not isinstance(node.operator, cst.Divide) or not mentions_word(node.right, "warmup"):
            return ()
        return without_difference_side(
            node, node.left, lambda right: mentions_word(right, "warmup"), is_step_counter
        )
