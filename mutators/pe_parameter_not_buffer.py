from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, Rewrite, SiteContext

from ._context import code, is_no_grad, name_available, words
from ._patterns import callee_name, dotted_name
from ._state import attribute_assignment, keyword, register_buffer_parts

#: methods that keep a tensor's dtype: a boolean tensor stays boolean through them
_KEEPS_DTYPE = (
    "to_sparse",
    "contiguous",
    "clone",
    "reshape",
    "view",
    "copy",
    "detach",
    "unsqueeze",
    "squeeze",
)
_POSITION_WORDS = frozenset(
    ("pe", "pos", "position", "positional", "positions", "encoding", "embedding", "sinusoids")
)


class PeParameterNotBuffer(Mutator):
    """The fixed positional table is registered as a trainable ``nn.Parameter``.

    ``self.pe = nn.Parameter(pe)`` looks like the natural way to "attach a tensor to a
    module", and it does move with ``.to()`` and appear in the state_dict, so nothing breaks.
    But the optimizer now trains the sinusoidal table (with weight decay, even), the parameter
    count grows by ``max_len * d_model`` and the encoding drifts away from the closed form the
    model was designed around. Any ``register_buffer("name", value)`` statement is a site,
    unless its value is boolean (``nn.Parameter`` refuses a tensor that cannot have gradients:
    a crash, not this bug), the class only reads it where no gradient flows (compared, as
    ``bias == 0``, or under ``no_grad``: the optimizer never moves it, nothing changes), or
    neither ``nn`` nor ``torch`` is imported to spell the parameter.
    A buffer that is not a positional table is named for what it is: a trained causal mask
    (the optimizer moves it, weight decay turns its -inf into NaN), or any fixed tensor.
    """

    bug_id = "pe_parameter_not_buffer"
    components = ("positional_encoding", "rope")
    category = Category.STATE_DEVICE
    layer = Layer.UPDATES
    description = "register the positional table as a trainable nn.Parameter instead of a buffer"
    symptom = "the parameter count is max_len * d_model too high; the table drifts during training"
    hint = "list model.named_parameters(): is there anything that should stay fixed?"
    fix = 'self.register_buffer("pe", pe) keeps the table out of the optimizer but in the state_dict'
    node_types = (cst.SimpleStatementLine,)
    EXAMPLES = (
        Example(
            'from torch import nn\nself.register_buffer("pe", pe.unsqueeze(0))\n',
            "from torch import nn\nself.pe = nn.Parameter(pe.unsqueeze(0))\n",
        ),
        Example(
            "import torch.nn as nn\nself.register_buffer('table', t, persistent=True)  # fixed\n",
            "import torch.nn as nn\nself.table = nn.Parameter(t)  # fixed\n",
        ),
        Example(
            'import torch\nself.register_buffer("pe", pe)\n',
            "import torch\nself.pe = torch.nn.Parameter(pe)\n",
        ),
    )
    UNCHANGED = (
        "self.pe = pe\n",
        "register_buffer(pe)\n",
        "self.register_buffer(name, pe)\n",
        # torch not imported: nn.Parameter would be a NameError
        'import numpy as np\nself.register_buffer("pe", pe)\n',
        "def f(self, n):\n"
        "    heads = torch.zeros(n, n, dtype=torch.bool)\n"
        '    self.register_buffer("alignment_heads", heads.to_sparse(), persistent=False)\n',
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement | Rewrite]:
        assert isinstance(node, cst.SimpleStatementLine)
        parts = register_buffer_parts(node)
        if parts is None:
            return ()
        owner, name, value = parts
        context = self.context
        if _is_boolean(context, value, depth=0) or _never_differentiated(context, name):
            return ()
        if name_available(context, "nn"):
            module: cst.BaseExpression = cst.Name("nn")
        elif name_available(context, "torch"):
            module = cst.Attribute(value=cst.Name("torch"), attr=cst.Name("nn"))
        else:
            return ()
        parameter = cst.Call(
            func=cst.Attribute(value=module, attr=cst.Name("Parameter")), args=[cst.Arg(value)]
        )
        rewritten = attribute_assignment(node, owner, name, parameter)
        named = words(name) | words(code(value))
        if named & _POSITION_WORDS:
            return (rewritten,)
        if named & {"mask", "bias", "causal", "tril", "triu"}:
            return (Rewrite(rewritten, _MASK),)
        return (Rewrite(rewritten, _FIXED),)


_MASK = (
    "register the causal mask as a trainable nn.Parameter: the optimizer changes which positions are masked"
)
_FIXED = "register a fixed tensor as a trainable nn.Parameter instead of a buffer: the optimizer changes it"


def _is_boolean(context: SiteContext, value: cst.BaseExpression, depth: int) -> bool:
    """Whether ``value`` is evidently a boolean tensor (``dtype=torch.bool``, ``.bool()``, a
    comparison), following names to what they were assigned and dtype-keeping methods to what
    they act on."""
    if depth > 8:
        return False
    if isinstance(value, cst.Comparison):
        return True
    if isinstance(value, cst.Name):
        source = context.value_of(value)
        return source is not None and _is_boolean(context, source, depth + 1)
    if not isinstance(value, cst.Call):
        return False
    name = callee_name(value)
    if name == "bool":
        return True
    dtype = keyword(value, "dtype")
    if dtype is not None and dotted_name(dtype[1].value) in ("torch.bool", "bool", "np.bool_"):
        return True
    if name in _KEEPS_DTYPE and isinstance(value.func, cst.Attribute):
        return _is_boolean(context, value.func.value, depth + 1)
    if name in ("from_numpy", "as_tensor", "tensor") and value.args:
        return _is_boolean(context, value.args[0].value, depth + 1)
    return False


def _never_differentiated(context: SiteContext, name: str) -> bool:
    """Whether every read of ``self.<name>`` in the class is one no gradient flows through: in a
    comparison, or under ``no_grad`` (a decorated method, a ``with`` block)."""
    cls = context.class_def
    if cls is None:
        return False
    reads = _Reads(name)
    cls.visit(reads)
    return bool(reads.found) and all(reads.found)


class _Reads(cst.CSTVisitor):
    """Each read of ``self.<name>``: whether it is out of autograd's reach."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.found: list[bool] = []
        self._shielded = 0

    def _shields(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Comparison):
            return True
        if isinstance(node, cst.FunctionDef):
            return any(is_no_grad(d.decorator) for d in node.decorators)
        return isinstance(node, cst.With) and any(is_no_grad(item.item) for item in node.items)

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self._shields(node):
            self._shielded += 1
        if isinstance(node, cst.Attribute) and dotted_name(node) == f"self.{self.name}":
            self.found.append(self._shielded > 0)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        if self._shields(original_node):
            self._shielded -= 1
