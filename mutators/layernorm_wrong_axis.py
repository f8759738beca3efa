from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, SiteContext

from ._attention import calls_in
from ._context import scope_words
from ._guide import TORCH_MODULES
from ._patterns import (
    argument,
    callee_name,
    int_literal,
    int_node,
    is_method_call,
    replace_arg,
)

_REDUCTIONS = ("mean", "var", "std", "var_mean", "std_mean")
_NORM_WORDS = frozenset(
    ("norm", "normalize", "normalization", "layernorm", "rmsnorm", "standardize", "whiten")
)


class LayerNormWrongAxis(Mutator):
    """A layer norm's mean or variance is taken over the axis before the features.

    Layer normalization normalizes each example's feature vector (the last axis). Reducing
    over ``dim=-2`` (the sequence or the batch) still broadcasts against the input, so the
    shapes are right and training runs; but every position is now normalized with statistics
    of other positions (and, for a batch axis, of other examples), which makes the output
    depend on the batch composition. A site is a mean/var/std with the literal axis ``-1``, in a
    normalization: a function or class named for one (``LayerNorm``, ``RMSNorm.forward``,
    ``normalize``) or a function that takes a root of the statistics (``sqrt``, ``rsqrt``); it
    becomes ``-2``. A mean over the last axis elsewhere (a loss, a pooling) is no layer norm. An
    axis in a variable cannot be judged from the text.
    """

    bug_id = "layernorm_wrong_axis"
    components = ("normalization", "rmsnorm")
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "normalize over the axis before the features instead of the feature axis"
    symptom = "results depend on the batch size or the other sequence positions; loss plateaus"
    hint = "over which axis are mean and variance computed? it must be the feature axis, -1"
    fix = "reduce over dim=-1 with keepdim=True"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "def layer_norm(x):\n    m = x.mean(dim=-1, keepdim=True)\n    return x - m\n",
            "def layer_norm(x):\n    m = x.mean(dim=-2, keepdim=True)\n    return x - m\n",
        ),
        Example(
            "def scale(x, eps):\n    v = torch.var(x, -1, correction=0)\n"
            "    return x / torch.sqrt(v + eps)\n",
            "def scale(x, eps):\n    v = torch.var(x, -2, correction=0)\n"
            "    return x / torch.sqrt(v + eps)\n",
        ),
        Example(
            "class RMSNorm(nn.Module):\n    def forward(self, h):\n"
            "        v = h.pow(2).mean(-1, keepdim=True)\n        return h * torch.rsqrt(v + self.eps)\n",
            "class RMSNorm(nn.Module):\n    def forward(self, h):\n"
            "        v = h.pow(2).mean(-2, keepdim=True)\n        return h * torch.rsqrt(v + self.eps)\n",
        ),
    )
    UNCHANGED = (
        "m = x.mean(dim=0)\n",
        "m = x.mean(dim=self.axis)\n",
        "m = x.sum(-1)\n",
        "def loss_fn(x, y):\n    return ((x - y) ** 2).mean(dim=-1)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if callee_name(node) not in _REDUCTIONS:
            return ()
        position = 0 if is_method_call(node, on_modules=TORCH_MODULES) else 1
        found = argument(node, keyword="dim", position=position)
        if found is None or int_literal(found[1].value) != -1:
            return ()
        if not _in_normalization(self.context):
            return ()
        return (replace_arg(node, found[0], int_node(-2)),)


def _in_normalization(context: SiteContext) -> bool:
    if scope_words(context) & _NORM_WORDS:
        return True
    function = context.function
    if function is None:
        return context.module is None  # outside the engine nothing is known
    return any(callee_name(c) in ("sqrt", "rsqrt") for c in calls_in(function))
