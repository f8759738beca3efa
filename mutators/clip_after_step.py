from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._loops import indices, is_optimizer_step, method_name, moved


def _is_clip(statement: cst.BaseStatement) -> bool:
    name = method_name(statement, assigned=True)
    return name is not None and name.startswith("clip_grad")


class ClipAfterStep(Mutator):
    """Gradient clipping moved after ``optimizer.step()``.

    The step has already used the unclipped gradients, and the clipped ones are thrown away by
    the next ``zero_grad``: clipping is on in the config and does nothing. Loss spikes from
    exploding gradients go through untouched, which is exactly what clipping was added for.
    Only a clipping call between ``backward`` and the ``step`` of the same block is a site.
    """

    bug_id = "clip_after_step"
    components = ("grad_clip",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "clip the gradients after optimizer.step() instead of before"
    symptom = "loss spikes and NaNs although gradient clipping is enabled"
    hint = "log the gradient norm the optimizer actually applies"
    fix = "order: loss.backward(); clip_grad_norm_(...); optimizer.step()"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "for x in data:\n    f(x).backward()\n    clip_grad_norm_(ps, 1.0)\n    opt.step()\n",
            "for x in data:\n    f(x).backward()\n    opt.step()\n    clip_grad_norm_(ps, 1.0)\n",
        ),
        Example(
            "for x in data:\n    n = torch.nn.utils.clip_grad_norm_(ps, 1)\n    opt.step()\n",
            "for x in data:\n    opt.step()\n    n = torch.nn.utils.clip_grad_norm_(ps, 1)\n",
        ),
        Example(
            "for x in data:\n    scaler.scale(f(x)).backward()\n    scaler.unscale_(opt)\n"
            "    clip_grad_norm_(ps, 1.0)\n    scaler.step(opt)\n    scaler.update()\n",
            "for x in data:\n    scaler.scale(f(x)).backward()\n    scaler.unscale_(opt)\n"
            "    scaler.step(opt)\n    clip_grad_norm_(ps, 1.0)\n    scaler.update()\n",
        ),
    )
    UNCHANGED = ("for x in data:\n    opt.step()\n    clip_grad_norm_(ps, 1.0)\n",)

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        clips = indices(node, _is_clip)
        steps = indices(node, is_optimizer_step)
        if not clips or not steps or steps[-1] < clips[0]:
            return ()
        step = next(i for i in steps if i > clips[0])
        return (moved(node, clips[0], step),)
