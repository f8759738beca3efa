from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._guide import without_statement
from ._llm_runtime import is_clip, is_unscale
from ._loops import indices


class UnscaleMissing(Mutator):
    """Gradients are clipped without ``scaler.unscale_(optimizer)`` first.

    ``scaler.step`` unscales by itself, so a loop without clipping does not need ``unscale_``;
    one that clips does: without it the clip sees gradients ``scale`` times too large and cuts
    every step to ``max_grad_norm / scale`` in true units. Only an ``unscale_`` that a clipping
    call follows in the same block is a site (anywhere else removing it changes nothing).
    """

    bug_id = "unscale_missing"
    components = ("amp",)
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "clip scaled gradients: scaler.unscale_ missing before clip_grad_norm_"
    symptom = "with AMP and clipping the loss barely moves; without clipping training is fine"
    hint = "print the total gradient norm at clipping time: is it thousands of times too large?"
    fix = "call scaler.unscale_(optimizer) before clipping"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "if max_norm is not None:\n"
            "    scaler.unscale_(optimizer)\n"
            "    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)\n",
            "if max_norm is not None:\n    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)\n",
        ),
        Example(
            "for batch in loader:\n"
            "    self.scaler.unscale_(self.optimizer)\n"
            "    grad_norm = clip_grad_norm_(self.model.parameters(), self.max_grad_norm)\n"
            "    self.scaler.step(self.optimizer)\n",
            "for batch in loader:\n"
            "    grad_norm = clip_grad_norm_(self.model.parameters(), self.max_grad_norm)\n"
            "    self.scaler.step(self.optimizer)\n",
        ),
    )
    UNCHANGED = ("for b in data:\n    scaler.unscale_(optimizer)\n    scaler.step(optimizer)\n",)

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        clips = indices(node, is_clip)
        return [without_statement(node, i) for i in indices(node, is_unscale) if any(c > i for c in clips)]
