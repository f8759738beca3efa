from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import method_call_on, removed_if


def _is_update(statement: cst.BaseStatement) -> bool:
    call = method_call_on(statement, "update", "scaler")
    return call is not None and not call.args


class ScalerUpdateMissing(Mutator):
    """``scaler.update()`` is never called after ``scaler.step(optimizer)``.

    The scale then never adapts: after an overflow it is not lowered, so every following step
    overflows again and is skipped (training silently stops), and after a run of good steps it
    never grows, so small float16 gradients underflow. ``scaler.step`` also refuses a second
    ``unscale_`` in the next step until ``update`` resets its state. Sites: ``scaler.update()``
    statements, removed.
    """

    bug_id = "scaler_update_missing"
    components = ("amp",)
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "scaler.update() missing: the loss scale never adapts"
    symptom = "after the first overflow every step is skipped and the loss freezes"
    hint = "log scaler.get_scale() every step: does it ever change?"
    fix = "call scaler.update() after every scaler.step(optimizer)"
    node_types = (cst.SimpleStatementLine,)
    EXAMPLES = (
        Example(
            "for batch in loader:\n    scaler.step(optimizer)\n    scaler.update()\n    opt.zero_grad()\n",
            "for batch in loader:\n    scaler.step(optimizer)\n    opt.zero_grad()\n",
        ),
        Example(
            "def step(self):\n    self.grad_scaler.step(self.optimizer)\n    self.grad_scaler.update()\n",
            "def step(self):\n    self.grad_scaler.step(self.optimizer)\n",
        ),
    )
    UNCHANGED = (
        "for b in data:\n    config.update(b)\n    f()\n",
        "for b in data:\n    scaler.update(2.0)\n    f()\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        return removed_if(node, _is_update)
