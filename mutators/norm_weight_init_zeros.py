from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._patterns import callee_name


class NormWeightInitZeros(Mutator):
    """A normalization gain is initialised to zeros instead of ones.

    ``nn.Parameter(torch.ones(dim))`` is the identity gain; with ``torch.zeros`` (copied from the
    bias line, or from a zero-init trick meant for a residual branch's last layer) the norm
    outputs zeros. In a pre-norm block the sub-layer then sees a zero input, the block starts as
    the identity and gradients to the gain are tiny: the model trains far slower than it should,
    and nothing crashes. Sites: ``torch.ones(...)`` as the value of an ``nn.Parameter``, and
    ``nn.init.ones_(...)``.
    """

    bug_id = "norm_weight_init_zeros"
    components = ("rmsnorm",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "a norm's weight (gain) initialised to zeros instead of ones"
    symptom = "the model's outputs start at zero and training barely moves for many steps"
    hint = "print a freshly built norm's weight: is it all ones?"
    fix = "self.weight = nn.Parameter(torch.ones(dim))"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "self.weight = nn.Parameter(torch.ones(hidden_size))\n",
            "self.weight = nn.Parameter(torch.zeros(hidden_size))\n",
        ),
        Example(
            "self.weight = torch.nn.Parameter(torch.ones(size))\n",
            "self.weight = torch.nn.Parameter(torch.zeros(size))\n",
        ),
        Example("torch.nn.init.ones_(self.weight)\n", "torch.nn.init.zeros_(self.weight)\n"),
    )
    UNCHANGED = ("self.bias = nn.Parameter(torch.zeros(d))\n", "mask = torch.ones(t, t)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        name = callee_name(node)
        if name == "ones_" and isinstance(node.func, cst.Attribute):
            return (node.with_changes(func=node.func.with_changes(attr=cst.Name("zeros_"))),)
        if name != "Parameter" or not node.args:
            return ()
        value = node.args[0].value
        if not isinstance(value, cst.Call) or callee_name(value) != "ones":
            return ()
        func = value.func
        zeros = (
            func.with_changes(attr=cst.Name("zeros"))
            if isinstance(func, cst.Attribute)
            else cst.Name("zeros")
        )
        return (
            node.with_changes(
                args=[node.args[0].with_changes(value=value.with_changes(func=zeros)), *node.args[1:]]
            ),
        )
