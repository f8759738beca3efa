from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import replace_node
from ._llm_runtime import is_step_counter, mentions_word, plus_one_operand


class WarmupOffByOne(Mutator):
    """The linear warmup starts one step late: the first step runs at learning rate 0.

    ``lr * (step + 1) / warmup`` reaches the peak at the last warmup step and moves the
    weights from the first step on. Dropping the ``+ 1`` (steps count from 0) wastes the first
    step, and every warmup step runs at the previous step's rate, so the peak is reached one
    step after the warmup ends, where the decay takes over. Sites: ``step + 1`` in the
    numerator of a division by something named ``warmup``.
    """

    bug_id = "warmup_off_by_one"
    components = ("schedule",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "linear warmup counts from step + 0: the first step has learning rate 0"
    symptom = "the first optimizer step changes nothing; the warmup never reaches the peak rate"
    hint = "print the learning rate of step 0 and of the last warmup step"
    fix = "lr = max_lr * (step + 1) / warmup_steps for step < warmup_steps"
    node_types = (cst.BinaryOperation,)
    EXAMPLES = (
        Example(
            "lr = learning_rate * (it + 1) / (warmup_iters + 1)\n",
            "lr = learning_rate * it / (warmup_iters + 1)\n",
        ),
        Example("lr = max_lr * (step + 1) / warmup_steps\n", "lr = max_lr * step / warmup_steps\n"),
    )
    UNCHANGED = (
        "lr = base_lr * step / warmup_steps\n",
        "x = (a + 1) / total_steps\n",
        "y = (step + 1) / n\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.BinaryOperation)
        if not isinstance(node.operator, cst.Divide) or not mentions_word(node.right, "warmup"):
            return ()
        found = []
        for plus in m.findall(node.left, m.BinaryOperation(operator=m.Add())):
            assert isinstance(plus, cst.BinaryOperation)
            counter = plus_one_operand(plus)
            if counter is not None and is_step_counter(counter):
                found.append(replace_node(node, plus, counter.with_changes(lpar=[], rpar=[])))
        return found
