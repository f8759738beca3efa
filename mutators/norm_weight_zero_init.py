from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import callee_name


def _renamed(call: cst.Call, name: str) -> cst.Call:
    func = call.func
    if isinstance(func, cst.Attribute):
        return call.with_changes(func=func.with_changes(attr=cst.Name(name)))
    return call.with_changes(func=cst.Name(name))


class NormWeightZeroInit(Mutator):
    """A normalization's gain starts at zeros instead of ones.

    ``nn.Parameter(torch.zeros(d))`` copied from the bias line next to it, or ``zeros_`` where
    ``ones_`` belongs in an ``_init_weights``. Every normalized layer then outputs its bias
    alone (an RMSNorm, which has none, outputs zeros): the residual stream carries only the skip
    path, the first updates of everything before the norm are zero, and training starts late and
    slowly (or, where the norm sits on the main path, not at all). Zero-initialised gains are a
    deliberate trick in a few places (the last norm of a residual branch), which is how the line
    survives review. Sites: a parameter built from ``torch.ones(...)`` and an ``init.ones_(...)``
    call; ones become zeros. LayerNorm and RMSNorm alike.
    """

    bug_id = "norm_weight_zero_init"
    components = ("normalization", "rmsnorm")
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "initialise a normalization's gain to zeros instead of ones"
    symptom = "the loss does not move for many steps; activations after every norm equal its bias"
    hint = "print the norm's weight right after building the model: all ones?"
    fix = "self.weight = nn.Parameter(torch.ones(d_model)) (nn.init.ones_ in _init_weights)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "self.weight = nn.Parameter(torch.ones(d_model))\n",
            "self.weight = nn.Parameter(torch.zeros(d_model))\n",
        ),
        Example(  # Hugging Face _init_weights
            "nn.init.ones_(module.weight)\n",
            "nn.init.zeros_(module.weight)\n",
        ),
        Example(
            "self.g = nn.Parameter(torch.ones((1, dim, 1)))\n",
            "self.g = nn.Parameter(torch.zeros((1, dim, 1)))\n",
        ),
        Example(  # an RMSNorm in the Llama style
            "self.weight = torch.nn.Parameter(torch.ones(hidden_size))\n",
            "self.weight = torch.nn.Parameter(torch.zeros(hidden_size))\n",
        ),
        Example("torch.nn.init.ones_(self.weight)\n", "torch.nn.init.zeros_(self.weight)\n"),
    )
    UNCHANGED = (
        "self.bias = nn.Parameter(torch.zeros(d_model))\n",
        "mask = torch.ones(n, n)\n",
        "self.gamma = nn.Parameter(init_values * torch.ones(dim))\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        name = callee_name(node)
        if name == "ones_":
            return (_renamed(node, "zeros_"),)
        if name != "Parameter" or not node.args:
            return ()
        value = node.args[0].value
        if not isinstance(value, cst.Call) or callee_name(value) != "ones":
            return ()
        args = [node.args[0].with_changes(value=_renamed(value, "zeros")), *node.args[1:]]
        return (node.with_changes(args=args),)
