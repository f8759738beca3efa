from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._guide import moved_into_micro_batch_loop


class ZeroGradInsideAccumulation(Mutator):
    """``zero_grad()`` moves into the micro-batch loop: each micro-batch erases the previous ones.

    Copying the usual ``zero_grad(); backward(); step()`` rhythm into an accumulation loop
    clears the gradients at every micro-batch, so the step uses only the last micro-batch's
    (scaled-down) gradient: the model trains on a fraction of the data with a smaller
    learning rate. The loss still falls, slower and noisier. A site is a ``.zero_grad()``
    statement next to a loop calling ``.backward()`` in the same block; it moves into that
    loop's body (to its start when it preceded the loop).
    """

    bug_id = "zero_grad_inside_accumulation"
    components = ("optimization",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "zero the gradients at every micro-batch instead of once per group"
    symptom = "loss falls more slowly and more noisily than with the equivalent big batch"
    hint = "print a parameter's gradient norm after each micro-batch: does it accumulate?"
    fix = "zero the gradients once per group, before its first micro-batch (or after the step)"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "for g in groups:\n    opt.zero_grad()\n    for b in g:\n        loss(b).backward()\n",
            "for g in groups:\n    for b in g:\n        opt.zero_grad()\n        loss(b).backward()\n",
        ),
    )
    UNCHANGED = ("for b in batches:\n    opt.zero_grad()\n    loss(b).backward()\n",)

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        return moved_into_micro_batch_loop(node, "zero_grad")
