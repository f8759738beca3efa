from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._guide import moved_into_micro_batch_loop


class StepEveryMicrobatch(Mutator):
    """``optimizer.step()`` moves into the micro-batch loop: a step after every micro-batch.

    Gradient accumulation exists to take one step per group; stepping inside the loop while
    zeroing only once per group applies partial sums of gradients several times over, so
    early micro-batches count repeatedly and the effective learning rate grows with
    ``accum_steps``. Training may still converge, just not like the large batch it was meant
    to imitate. A site is a ``.step()`` statement next to a loop calling ``.backward()`` in
    the same block; it moves into that loop's body (to its end when it followed the loop).
    """

    bug_id = "step_every_microbatch"
    components = ("optimization",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "call optimizer.step() after every micro-batch instead of once per group"
    symptom = "training unstable when accum_steps grows; more optimizer steps than expected"
    hint = "count optimizer.step() calls per epoch: it should be ceil(batches / accum_steps)"
    fix = "step (and zero the gradients) once per group, after its last micro-batch"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "for group in groups:\n    for b in group:\n        loss(b).backward()\n    opt.step()\n",
            "for group in groups:\n    for b in group:\n        loss(b).backward()\n        opt.step()\n",
        ),
    )
    UNCHANGED = (
        "for b in batches:\n    loss(b).backward()\n    opt.step()\n",
        "for g in groups:\n    for b in g:\n        scaler.scale(loss(b)).backward()\n"
        "    scaler.step(opt)\n    scaler.update()\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        return moved_into_micro_batch_loop(node, "step")
