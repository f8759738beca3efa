from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._loops import indices, method_name, without


class ZeroGradMissing(Mutator):
    """``optimizer.zero_grad()`` (or ``model.zero_grad()``) is gone from the training loop.

    ``backward()`` adds into ``.grad``; without clearing, every step uses the sum of all the
    gradients so far, an ever larger and staler direction. With Adam the normalization hides
    the growing scale for a while; with SGD the updates grow until the loss diverges. The line
    is easy to drop when a loop is refactored into gradient accumulation and back. A
    ``zero_grad()`` before a loop that clears the gradients itself at every step is no site:
    without it nothing changes but the very first step.
    """

    bug_id = "zero_grad_missing"
    components = ("training", "grad_clip", "optimization", "schedule", "amp")
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "optimizer.zero_grad() removed: gradients accumulate across steps"
    symptom = "loss falls at first, then oscillates and diverges; gradient norms grow step after step"
    hint = "print a parameter's .grad norm at every step: it keeps growing"
    fix = "call optimizer.zero_grad() once per optimizer step, before backward"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "for x in data:\n    opt.zero_grad()\n    f(x).backward()\n    opt.step()\n",
            "for x in data:\n    f(x).backward()\n    opt.step()\n",
        ),
        # the zero_grad before the loop is no site: the loop clears the gradients itself
        Example(
            "def f(data):\n    opt.zero_grad()\n    for x in data:\n        f(x).backward()\n"
            "        opt.step()\n        opt.zero_grad()\n",
            "def f(data):\n    opt.zero_grad()\n    for x in data:\n        f(x).backward()\n"
            "        opt.step()\n",
        ),
    )
    UNCHANGED = (
        "if ready:\n    opt.zero_grad()\n",
        "for x in data:\n    opt.step()\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        # a loop of the block that zeroes the gradients itself makes a zero_grad before it moot
        loops = [s for s in node.body if isinstance(s, (cst.For, cst.While)) and _zeroes(s)]
        return [
            block
            for i in indices(node, lambda s: method_name(s) == "zero_grad")
            if not any(node.body.index(loop) > i for loop in loops)
            for block in without(node, i)
        ]


def _zeroes(loop: cst.CSTNode) -> bool:
    return bool(m.findall(loop, m.Call(func=m.Attribute(attr=m.Name("zero_grad")))))
