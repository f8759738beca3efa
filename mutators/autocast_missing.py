from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import callee_name, with_leading_lines


class AutocastMissing(Mutator):
    """The forward pass runs without ``torch.autocast``: mixed precision in name only.

    The gradient scaler, the flags and the config all say AMP, but without the autocast
    context the model computes in float32: no speed-up, no memory saved, and the scaler
    multiplies float32 gradients for nothing. Nothing fails; only the profile shows it.
    Sites: a ``with torch.autocast(...)`` (or ``torch.cuda.amp.autocast``) block, replaced by
    its body.
    """

    bug_id = "autocast_missing"
    components = ("amp",)
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "no torch.autocast around the forward pass: AMP runs in float32"
    symptom = "mixed precision gives no speed-up and no memory saving"
    hint = "print the dtype of a Linear layer's output inside the training step"
    fix = "with torch.autocast(device_type=..., dtype=...): outputs = model(inputs); loss = ..."
    node_types = (cst.With,)
    EXAMPLES = (
        Example(
            "with torch.autocast(device_type='cuda', dtype=torch.float16):\n"
            "    output = model(input)\n"
            "    loss = loss_fn(output, target)\n",
            "output = model(input)\nloss = loss_fn(output, target)\n",
        ),
        Example(
            "with torch.cuda.amp.autocast():\n    logits = model(x)\n",
            "logits = model(x)\n",
        ),
    )
    UNCHANGED = (
        "with torch.no_grad():\n    y = model(x)\n",
        "with ctx, torch.autocast('cpu'):\n    y = m(x)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.With)
        if len(node.items) != 1 or node.items[0].asname is not None:
            return ()
        item = node.items[0].item
        if not isinstance(item, cst.Call) or callee_name(item) != "autocast":
            return ()
        if not isinstance(node.body, cst.IndentedBlock):
            return ()
        statements = list(node.body.body)
        first = statements[0]
        statements[0] = with_leading_lines(first, node.leading_lines)
        return (cst.FlattenSentinel(statements),)
