from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import dotted_name

#: activation modules of hidden layers (not output squashers such as Sigmoid or Softmax)
_MODULES = ("ReLU", "ReLU6", "GELU", "SiLU", "Mish", "LeakyReLU", "ELU", "SELU", "Softplus")
#: their functional and method forms
_FUNCTIONS = ("relu", "relu6", "gelu", "silu", "mish", "leaky_relu", "elu", "selu", "softplus")
#: attributes that hold a model's activation (Hugging Face's ``act``/``act_fn``, nanoGPT's ``gelu``)
_ATTRIBUTES = ("act", "act_fn", "activation", "activation_fn", "act_layer", "nonlinearity", *_FUNCTIONS)
_FUNCTION_MODULES = ("torch", "F", "nn.functional", "torch.nn.functional", "functional")


class ActivationRemoved(Mutator):
    """The non-linearity between two linear layers is gone: ``Linear -> Linear``.

    Two linear layers in a row are one linear layer: the block keeps its parameter count, its
    shapes and its place in the network, and the network loses its depth. It happens when an
    ``nn.Sequential`` is edited (the activation dropped with a dropout that was moved), when
    ``act_fn`` is configured as ``"linear"``/``Identity``, or when a forward is rewritten and
    the call is lost. Training runs and the loss falls, to a plateau a model of this size should
    pass. Sites: an activation module (``nn.ReLU()``, ``nn.GELU()``, ...; it becomes
    ``nn.Identity()``), a functional or method activation (``F.gelu(h)``, ``h.relu()``), or a
    call of the model's activation attribute (``self.act(h)``), each replaced by its input.
    """

    bug_id = "activation_removed"
    components = ("decoder",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "remove the activation between two linear layers (the block becomes linear)"
    symptom = "the loss plateaus where a model of this size should do better; depth adds nothing"
    hint = "check that ffn(x) + ffn(-x) - 2 ffn(0) is not zero: a linear block gives zero"
    fix = "put the activation back: Linear(d, d_ff) -> ReLU/GELU -> Linear(d_ff, d)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "ffn = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, d))\n",
            "ffn = nn.Sequential(nn.Linear(d, h), nn.Identity(), nn.Linear(h, d))\n",
        ),
        Example("h = F.gelu(self.fc1(x))\n", "h = self.fc1(x)\n"),
        Example(  # Hugging Face
            "hidden_states = self.act(hidden_states)\n",
            "hidden_states = hidden_states\n",
        ),
        Example("y = self.w2(self.w1(x).relu())\n", "y = self.w2(self.w1(x))\n"),
    )
    UNCHANGED = (
        "p = torch.sigmoid(logits)\n",
        "w = F.softmax(scores, dim=-1)\n",
        "act = nn.Identity()\n",
        "y = relu(x)\n",
        "y = self.act(x, y)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        func = node.func
        if not isinstance(func, cst.Attribute):
            return ()
        name = func.attr.value
        receiver = dotted_name(func.value)
        if name in _MODULES and receiver is not None and receiver.split(".")[-1] == "nn":
            return (node.with_changes(func=func.with_changes(attr=cst.Name("Identity")), args=[]),)
        if name in _FUNCTIONS and receiver not in _FUNCTION_MODULES and not node.args:
            return (func.value,)  # h.relu()
        positional = [arg for arg in node.args if arg.keyword is None and not arg.star]
        if not positional or positional[0] is not node.args[0]:
            return ()
        if name in _FUNCTIONS and receiver in _FUNCTION_MODULES:
            return (node.args[0].value,)  # F.gelu(h)
        if name in _ATTRIBUTES and receiver == "self" and len(node.args) == 1:
            return (node.args[0].value,)  # self.act(h)
        return ()
