from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import guarded, is_step_counter, mentions_word, named


class LrNotClampedAfterTotal(Mutator):
    """Past ``total_steps`` the schedule is not held at ``min_lr``: the cosine climbs again.

    ``cos`` is periodic. A run that trains longer than the schedule planned (an extra epoch, a
    resumed job, a ``total_steps`` computed from a smaller dataset) gets a learning rate that
    rises back towards the peak after the trough, and the loss climbs at the end of training.
    Sites: the guard ``if step > total: return min_lr`` (or ``>=``), removed.
    """

    bug_id = "lr_not_clamped_after_total"
    components = ("schedule",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "no clamp to min_lr after total_steps: the cosine rises again"
    symptom = "training longer than planned makes the loss climb at the end"
    hint = "print the learning rate at total_steps + 10"
    fix = "if step >= total_steps: return min_lr"
    node_types = (cst.If,)
    EXAMPLES = (
        Example(
            "def get_lr(it):\n"
            "    if it > lr_decay_iters:\n"
            "        return min_lr\n"
            "    return min_lr + coeff * (learning_rate - min_lr)\n",
            "def get_lr(it):\n    return min_lr + coeff * (learning_rate - min_lr)\n",
        ),
    )
    UNCHANGED = (
        "def f(step, total):\n    if step > total:\n        raise ValueError(step)\n    return 1\n",
        "def f(step, warmup_steps, lr):\n    if step < warmup_steps:\n        return lr\n    return 0\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.If)
        test = node.test
        if node.orelse is not None or not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
            return ()
        comparison = test.comparisons[0]
        if not isinstance(comparison.operator, (cst.GreaterThan, cst.GreaterThanEqual)):
            return ()
        if not is_step_counter(test.left) or mentions_word(comparison.comparator, "warmup"):
            return ()
        if not named(comparison.comparator, "total", "decay", "max", "training", "steps", "iters"):
            return ()
        if not isinstance(guarded(node), cst.Return):
            return ()
        return (cst.RemovalSentinel.REMOVE,)
