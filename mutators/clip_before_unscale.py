from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import is_clip, is_unscale
from ._loops import indices, moved


class ClipBeforeUnscale(Mutator):
    """Gradients are clipped before ``scaler.unscale_(optimizer)``: in scaled units.

    With a gradient scaler the gradients are ``scale`` times too large (65536 at the start)
    until they are unscaled. Clipping them first compares that inflated norm with
    ``max_grad_norm``: every step is clipped, to ``max_grad_norm / scale`` in true units, so
    training crawls, and the clip's effect changes whenever the scale does. Sites: an
    ``unscale_`` call followed by a clipping call in the same block, moved after it.
    """

    bug_id = "clip_before_unscale"
    components = ("amp",)
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "clip the gradients before scaler.unscale_: the clip acts in scaled units"
    symptom = "with AMP every step is clipped and training barely moves; the grad norm is huge"
    hint = "print the total gradient norm just before optimizer.step(): is it max_grad_norm?"
    fix = "scaler.unscale_(optimizer), then clip_grad_norm_, then scaler.step(optimizer)"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "if max_norm is not None:\n"
            "    scaler.unscale_(optimizer)\n"
            "    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)\n"
            "scaler.step(optimizer)\n",
            "if max_norm is not None:\n"
            "    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)\n"
            "    scaler.unscale_(optimizer)\n"
            "scaler.step(optimizer)\n",
        ),
    )
    UNCHANGED = (
        "if clip:\n    torch.nn.utils.clip_grad_norm_(params, 1.0)\n    scaler.unscale_(optimizer)\n",
        "if clip:\n    scaler.unscale_(optimizer)\n    log(x)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        clips = indices(node, is_clip)
        found = []
        for unscale in indices(node, is_unscale):
            later = [c for c in clips if c > unscale]
            if later:
                found.append(moved(node, unscale, later[0]))
        return found
