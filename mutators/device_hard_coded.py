from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, Rewrite, SiteContext

from ._context import in_module_method, words
from ._patterns import callee_name, replace_arg
from ._state import FACTORIES, is_torch_call, keyword, string_value, with_keyword

_NEW = ("new_zeros", "new_ones", "new_empty", "new_full", "new_tensor")


#: methods that move a fresh tensor to the right device anyway: a device given before is moot
_MOVES = ("to", "cuda", "type_as", "to_device")

_FOLLOWS_INPUT = 'device="cpu" given where the new tensor would take the device of its input'
_IN_MODULE = "tensor created on the CPU even when the module is built on another device (meta init)"
_MOVED_TO_CPU = "moved to a hard-coded CPU instead of the device of the tensor it should follow"


def _cpu(context: SiteContext) -> cst.SimpleString:
    """``"cpu"``, in the quote an enclosing f-string leaves free (before Python 3.12 an
    f-string cannot hold its own quote)."""
    for ancestor in context.ancestors:
        if isinstance(ancestor, cst.FormattedString) and '"' in ancestor.start:
            return cst.SimpleString("'cpu'")
    return cst.SimpleString('"cpu"')


class DeviceHardCoded(Mutator):
    """A tensor is created on a hard-coded ``"cpu"`` instead of the inputs' or module's device.

    Code developed on a laptop passes ``device="cpu"`` (or nothing at all where the result
    should follow an input) and works until the model moves to the GPU: then the first
    operation mixing the new tensor with the inputs fails with "Expected all tensors to be on
    the same device", or a buffer created on the CPU stays there when the module is built
    under ``torch.device("cuda")``. Sites: a torch factory call (``zeros``, ``ones``,
    ``arange``, ``full``...) whose ``device=`` argument becomes ``"cpu"``; a factory that
    follows its input (``zeros_like``, ``x.new_zeros``) given ``device="cpu"``; a plain factory
    in a method of an ``nn.Module`` that builds its state (``__init__``...) given
    ``device="cpu"`` (it no longer follows a ``with torch.device(...)`` or meta-device
    construction); and ``.to(x.device)``. A factory already
    on ``"cpu"``, one whose result is moved at once (``.to(device)``, ``.cuda()``,
    ``.type_as(x)``), one with ``**kwargs`` (which may hold a device) and a plain factory outside
    a module (data loading, scripts: on the CPU anyway) are no sites.
    """

    bug_id = "device_hard_coded"
    components = ("masks", "kv_cache", "normalization", "rmsnorm", "rope", "gqa", "collate")
    category = Category.STATE_DEVICE
    layer = Layer.SHAPES
    description = 'create a tensor on a hard-coded device="cpu" instead of following the inputs'
    symptom = "RuntimeError: Expected all tensors to be on the same device, once moved to the GPU"
    hint = "run the component on the meta device: every tensor it creates must follow the inputs"
    fix = "pass device=x.device (or the device argument), or create buffers without a device"
    cpu_check = (
        'build the module and its inputs under `with torch.device("meta"):` and call it: a CPU '
        "tensor mixed with meta ones raises (CPU indices into a meta embedding do not: there, "
        "check the device of the index tensor the code makes)"
    )
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "m = torch.ones(t, t, dtype=torch.bool, device=device)\n",
            'm = torch.ones(t, t, dtype=torch.bool, device="cpu")\n',
        ),
        Example(
            "class Cache(nn.Module):\n    def __init__(self, shape, dtype):\n"
            "        c = torch.zeros(shape, dtype=dtype)\n",
            "class Cache(nn.Module):\n    def __init__(self, shape, dtype):\n"
            '        c = torch.zeros(shape, dtype=dtype, device="cpu")\n',
        ),
        Example("i = x.new_zeros(3)\n", 'i = x.new_zeros(3, device="cpu")\n'),
        Example("y = m.to(x.device)\n", 'y = m.to("cpu")\n'),
        Example(
            'print(f"{torch.zeros_like(x, device=x.device)}")\n',
            "print(f\"{torch.zeros_like(x, device='cpu')}\")\n",
        ),
    )
    UNCHANGED = (
        'm = torch.ones(3, device="cpu")\n',
        "y = x.zeros(3)\n",
        "y = m.to(torch.float64)\n",
        "c = torch.zeros(shape, dtype=dtype)\n",
        "ys = torch.ones(1, 1).fill_(start).type(torch.long).to(DEVICE)\n",
        "class Norm(nn.Module):\n    def __init__(self, n, **dd):\n"
        "        self.w = nn.Parameter(torch.empty(n, **dd))\n",
        "class Net(nn.Module):\n    def f(self, x):\n        return torch.randn(3).to(device)\n",
        "class Net(nn.Module):\n    def forward(self, x):\n        return x + torch.ones(3)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement | Rewrite]:
        assert isinstance(node, cst.Call)
        context = self.context
        name = callee_name(node)
        follows_input = name in _NEW and isinstance(node.func, cst.Attribute)
        follows_input = follows_input or (is_torch_call(node, FACTORIES) and (name or "").endswith("_like"))
        if is_torch_call(node, FACTORIES) or follows_input:
            found = keyword(node, "device")
            if found is not None:
                index, arg = found
                if string_value(arg.value) == "cpu":
                    return ()
                return (replace_arg(node, index, _cpu(context)),)
            if any(a.star == "**" for a in node.args) or _moved_at_once(context):
                return ()
            added = with_keyword(node, "device", _cpu(context))
            if follows_input:
                return (Rewrite(added, _FOLLOWS_INPUT),)
            if in_module_method(context) and _builds_the_module(context):
                return (Rewrite(added, _IN_MODULE),)
            return ()
        if name == "to" and len(node.args) == 1 and node.args[0].keyword is None:
            if m.matches(node.args[0].value, m.Attribute(attr=m.Name("device"))):
                return (Rewrite(replace_arg(node, 0, _cpu(context)), _MOVED_TO_CPU),)
        return ()


def _builds_the_module(context: SiteContext) -> bool:
    """Whether the site's method builds the module's state (``__init__``, ``reset_parameters``,
    ``setup_caches``...): what it creates follows the device the module is built on. A tensor
    created without a device in ``forward`` is on the default device in the original too."""
    function = context.function
    if function is None:
        return False
    name = function.name.value
    return name == "__init__" or bool(
        words(name) & {"init", "setup", "build", "reset", "parameters", "caches"}
    )


def _moved_at_once(context: SiteContext) -> bool:
    """Whether the new tensor is moved right away: ``torch.ones(1).to(device)``."""
    parent = context.parent
    grand = context.ancestors[1] if len(context.ancestors) > 1 else None
    return isinstance(parent, cst.Attribute) and isinstance(grand, cst.Call) and callee_name(grand) in _MOVES
