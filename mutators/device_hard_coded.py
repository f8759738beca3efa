from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._patterns import callee_name, replace_arg
from pytest_mlbugs.mutators._state import FACTORIES, is_torch_call, keyword, string_value, with_keyword

_NEW = ("new_zeros", "new_ones", "new_empty", "new_full", "new_tensor")


def _cpu() -> cst.SimpleString:
    return cst.SimpleString('"cpu"')


class DeviceHardCoded(Mutator):
    """A tensor is created on a hard-coded ``"cpu"`` instead of the inputs' or module's device.

    Code developed on a laptop passes ``device="cpu"`` (or nothing at all where the result
    should follow an input) and works until the model moves to the GPU: then the first
    operation mixing the new tensor with the inputs fails with "Expected all tensors to be on
    the same device", or a buffer created on the CPU stays there when the module is built
    under ``torch.device("cuda")``. Sites: a torch factory call (``zeros``, ``ones``,
    ``arange``, ``full``...), whose ``device=`` argument becomes ``"cpu"`` or which gets one;
    ``x.new_zeros(...)``-style calls; and ``.to(x.device)``. A factory already on
    ``"cpu"`` is no site.
    """

    bug_id = "device_hard_coded"
    components = ("masks", "kv_cache", "normalization", "collate")
    category = Category.STATE_DEVICE
    layer = Layer.SHAPES
    description = 'create a tensor on a hard-coded device="cpu" instead of following the inputs'
    symptom = "RuntimeError: Expected all tensors to be on the same device, once moved to the GPU"
    hint = "run the component on the meta device: every tensor it creates must follow the inputs"
    fix = "pass device=x.device (or the device argument), or create buffers without a device"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "m = torch.ones(t, t, dtype=torch.bool, device=device)\n",
            'm = torch.ones(t, t, dtype=torch.bool, device="cpu")\n',
        ),
        Example(
            "c = torch.zeros(shape, dtype=dtype)\n", 'c = torch.zeros(shape, dtype=dtype, device="cpu")\n'
        ),
        Example("i = x.new_zeros(3)\n", 'i = x.new_zeros(3, device="cpu")\n'),
        Example("y = m.to(x.device)\n", 'y = m.to("cpu")\n'),
    )
    UNCHANGED = ('m = torch.ones(3, device="cpu")\n', "y = x.zeros(3)\n", "y = m.to(torch.float64)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        name = callee_name(node)
        if is_torch_call(node, FACTORIES) or (name in _NEW and isinstance(node.func, cst.Attribute)):
            found = keyword(node, "device")
            if found is None:
                return (with_keyword(node, "device", _cpu()),)
            index, arg = found
            if string_value(arg.value) == "cpu":
                return ()
            return (replace_arg(node, index, _cpu()),)
        if name == "to" and len(node.args) == 1 and node.args[0].keyword is None:
            if m.matches(node.args[0].value, m.Attribute(attr=m.Name("device"))):
                return (replace_arg(node, 0, _cpu()),)
        return ()
