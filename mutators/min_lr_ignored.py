from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import replace_node
from ._llm_runtime import named, same_code, subtraction_of


class MinLrIgnored(Mutator):
    """The cosine decays to zero instead of to the floor ``min_lr``.

    ``min_lr + (max_lr - min_lr) * c`` interpolates between the floor and the peak. Written as
    ``max_lr * c`` the schedule ignores the floor: the last part of training runs at a rate
    near zero and learns almost nothing, while the config still shows a sensible ``min_lr``.
    Sites: ``floor + (peak - floor) * c`` (in any factor order) with a floor named ``min``,
    replaced by ``peak * c``.
    """

    bug_id = "min_lr_ignored"
    components = ("schedule",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "cosine decay ignores min_lr and decays to zero"
    symptom = "the loss stops improving over the last part of training; the final rate is 0"
    hint = "print the learning rate at total_steps - 1 and compare it with min_lr"
    fix = "lr = min_lr + (max_lr - min_lr) * 0.5 * (1 + cos(pi * progress))"
    node_types = (cst.BinaryOperation,)
    EXAMPLES = (
        Example(
            "lr = min_lr + coeff * (learning_rate - min_lr)\n",
            "lr = coeff * learning_rate\n",
        ),
        Example(
            "lr = self.lr_min + 0.5 * (lr_max - self.lr_min) * (1 + math.cos(math.pi * t / t_i))\n",
            "lr = 0.5 * lr_max * (1 + math.cos(math.pi * t / t_i))\n",
        ),
        Example(
            "lr = min_lr + (max_lr - min_lr) * (1 + math.cos(math.pi * progress)) / 2\n",
            "lr = max_lr * (1 + math.cos(math.pi * progress)) / 2\n",
        ),
    )
    UNCHANGED = ("lr = base + (peak - base) * c\n", "x = min_lr + 1\n", "y = min_lr + (a - b) * c\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.BinaryOperation)
        if not isinstance(node.operator, cst.Add) or not named(node.left, "min"):
            return ()
        floor = node.left
        return [
            replace_node(node.right, difference, difference.left.with_changes(lpar=[], rpar=[]))
            for difference in subtraction_of(node.right, lambda right: same_code(right, floor))
        ]
