from __future__ import annotations

import re
from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

_NUMBERED_NORM = re.compile(r"^(?P<stem>.*(?:norm|ln)_?)(?P<number>\d+)$", re.IGNORECASE)


class WrongNormUsed(Mutator):
    """A sub-layer reads the previous sub-layer's norm: ``self.norm2(x)`` becomes ``self.norm1(x)``.

    Numbered norms (``norm1``, ``norm2``, ``ln_1``...) invite a copy-paste slip when a block is
    duplicated. Shapes agree and at initialization all norms are identical (weight 1, bias 0), so
    the layer behaves exactly right at first; the two sub-layers then fight over one set of
    norm parameters while the other stays untrained, which only shows as slightly worse training
    and as a checkpoint that loads into the correct code and gives different outputs. Sites: a
    call of an attribute named like a numbered norm with a number of 2 or more (it becomes the
    number before it, which exists wherever the numbering starts at 1).
    """

    bug_id = "wrong_norm_used"
    components = ("decoder",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "use the previous sub-layer's norm (norm1 where norm2 belongs)"
    symptom = (
        "slightly worse training; one norm's parameters never change; checkpoints disagree with correct code"
    )
    hint = "check that each sub-layer calls its own norm module"
    fix = "x = x + cross_attn(self.norm2(x), ...), x = x + ffn(self.norm3(x))"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("h = self.norm2(x)\n", "h = self.norm1(x)\n"),
        Example("x = x + self.mlp(self.ln_3(x))\n", "x = x + self.mlp(self.ln_2(x))\n"),
    )
    UNCHANGED = ("h = self.norm1(x)\n", "h = self.layer2(x)\n", "h = self.norm(x)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        func = node.func
        if not isinstance(func, cst.Attribute) or not node.args:
            return ()
        found = _NUMBERED_NORM.match(func.attr.value)
        if found is None or int(found["number"]) < 2:
            return ()
        previous = f"{found['stem']}{int(found['number']) - 1}"
        return (node.with_changes(func=func.with_changes(attr=cst.Name(previous))),)
