from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutation import SiteContext

from ._patterns import argument, callee_name, dotted_name


def _feeds_batch_norm(context: SiteContext) -> bool:
    """Whether the layer built at the site (``self.conv1 = nn.Conv2d(...)``) is only ever called
    inside a BatchNorm (``self.bn1(self.conv1(x))``): the norm subtracts the batch mean, so the
    bias cancels and ``bias=False`` there is the usual choice, not a bug."""
    statement, cls = context.statement, context.class_def
    if statement is None or cls is None:
        return False
    targets = [
        t.target for a in m.findall(statement, m.Assign()) if isinstance(a, cst.Assign) for t in a.targets
    ]
    if len(targets) != 1 or not m.matches(targets[0], m.Attribute(value=m.Name("self"))):
        return False
    assert isinstance(targets[0], cst.Attribute)
    layer = targets[0].attr.value
    norms = {
        t.target.attr.value
        for a in m.findall(cls, m.Assign())
        if isinstance(a, cst.Assign)
        and isinstance(a.value, cst.Call)
        and "BatchNorm" in (callee_name(a.value) or "")
        for t in a.targets
        if isinstance(t.target, cst.Attribute)
    }
    own = m.Call(func=m.Attribute(value=m.Name("self"), attr=m.Name(layer)))
    calls = m.findall(cls, own)
    wrapped = m.findall(
        cls,
        m.Call(
            func=m.Attribute(value=m.Name("self"), attr=m.MatchIfTrue(lambda n: n.value in norms)),
            args=[m.Arg(value=own), m.ZeroOrMore()],
        ),
    )
    return bool(calls) and len(wrapped) == len(calls)


#: layers whose bias is on unless ``bias=False``
_LAYERS = ("Linear", "Conv1d", "Conv2d", "Conv3d")


_NO_SPACE = cst.SimpleWhitespace("")
_BIAS_OFF = cst.Arg(
    value=cst.Name("False"), keyword=cst.Name("bias"), equal=cst.AssignEqual(_NO_SPACE, _NO_SPACE)
)


def _names_a_bias(expr: cst.BaseExpression) -> bool:
    """``bias``, ``self.bias``, ``self.out_bias``: an expression naming a bias."""
    name = dotted_name(expr)
    return name is not None and "bias" in name.split(".")[-1].lower()


class BiasDropped(Mutator):
    """A layer loses its bias: ``nn.Linear(d, d)`` becomes ``nn.Linear(d, d, bias=False)``, or
    the ``+ bias`` of a hand-written affine step goes missing.

    Bias-free projections are a deliberate choice in some models (Llama), so the flag is
    copied from one block to the next where it does not belong, or the ``+ self.bias`` of a
    normalization is lost in a rewrite. Shapes agree and training runs; the layer can no longer
    shift its output, pretrained checkpoints no longer load without ``strict=False`` (which
    hides the missing keys), and a norm centred at zero stays there. Sites: an ``nn.Linear`` or
    ``nn.Conv*d`` built with its bias (``bias=True`` or no ``bias=``), ``F.linear(x, w, b)``,
    and ``expr + bias`` where the added term names a bias.
    """

    bug_id = "bias_dropped"
    components = ("attention", "decoder", "normalization")
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "drop a layer's bias (bias=False on a Linear that needs one, or a lost + bias)"
    symptom = "slightly worse training; a checkpoint with biases no longer loads strictly"
    hint = "list the parameters: does every layer the contract gives a bias have one?"
    fix = "keep the bias: nn.Linear(d_in, d_out) (bias=True) and x_hat * weight + bias"
    node_types = (cst.Call, cst.BinaryOperation)
    EXAMPLES = (
        Example(
            "self.q_proj = nn.Linear(d_model, d_model)\n",
            "self.q_proj = nn.Linear(d_model, d_model, bias=False)\n",
        ),
        Example("fc = nn.Linear(d, 4 * d, bias=True)\n", "fc = nn.Linear(d, 4 * d, bias=False)\n"),
        Example("y = x_hat * self.weight + self.bias\n", "y = x_hat * self.weight\n"),
        Example("y = F.linear(x, self.weight, self.bias)\n", "y = F.linear(x, self.weight)\n"),
    )
    UNCHANGED = (
        "fc = nn.Linear(d, d, bias=False)\n",
        "fc = nn.Linear(d, d, bias=config.bias)\n",
        "y = x + residual\n",
        "y = F.linear(x, w)\n",
        "n = nn.LayerNorm(d)\n",
        # a conv whose output goes straight into a BatchNorm: the norm cancels its bias
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        self.conv1 = nn.Conv2d(3, 32, 3)\n"
        "        self.bn1 = nn.BatchNorm2d(32)\n"
        "    def forward(self, x):\n"
        "        return self.bn1(self.conv1(x))\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.BinaryOperation):
            if m.matches(node.operator, m.Add()) and _names_a_bias(node.right):
                return (node.left,)
            return ()
        assert isinstance(node, cst.Call)
        name = callee_name(node)
        if name in _LAYERS:
            if _feeds_batch_norm(self.context):
                return ()
            found = argument(node, keyword="bias", position=None)
            if found is None:
                return (node.with_changes(args=[*node.args, _BIAS_OFF]),)
            if m.matches(found[1].value, m.Name("True")):
                args = list(node.args)
                args[found[0]] = args[found[0]].with_changes(value=cst.Name("False"))
                return (node.with_changes(args=args),)
            return ()
        if name == "linear":
            found = argument(node, keyword="bias", position=2)
            if found is not None:
                kept = [a for i, a in enumerate(node.args) if i != found[0]]
                kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                return (node.with_changes(args=kept),)
        return ()
