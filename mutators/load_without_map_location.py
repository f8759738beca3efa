from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import argument, dotted_name
from ._state import without_arg


class LoadWithoutMapLocation(Mutator):
    """``torch.load`` ignores the ``map_location`` the caller asked for.

    Without it, tensors are restored to the device they were saved from: a checkpoint written
    on ``cuda:0`` fails to load on a machine without a GPU, and on a multi-GPU node every rank
    loads its copy onto GPU 0, running out of memory there. Single-device tests never notice.
    Sites: the ``map_location`` argument of ``torch.load`` (keyword or second positional),
    dropped.
    """

    bug_id = "load_without_map_location"
    components = ("checkpoint",)
    category = Category.STATE_DEVICE
    layer = Layer.EVALUATION
    description = "torch.load without the requested map_location"
    symptom = "RuntimeError: Attempting to deserialize object on a CUDA device on a CPU-only machine"
    hint = "load a checkpoint with map_location='meta' or a callable: is it used?"
    fix = "torch.load(path, map_location=map_location, weights_only=True)"
    cpu_check = (
        'load with map_location="meta" and assert that every loaded tensor is on the meta device: '
        "a map_location that is not passed on leaves them where they were saved"
    )
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "checkpoint = torch.load(ckpt_path, map_location=device)\n",
            "checkpoint = torch.load(ckpt_path)\n",
        ),
        Example(
            "state = torch.load(path, map_location=map_location, weights_only=True)\n",
            "state = torch.load(path, weights_only=True)\n",
        ),
        Example("sd = torch.load(f, 'cpu')\n", "sd = torch.load(f)\n"),
    )
    UNCHANGED = ("sd = torch.load(path)\n", "x = json.load(f, map_location)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if dotted_name(node.func) != "torch.load":
            return ()
        found = argument(node, keyword="map_location", position=1)
        if found is None:
            return ()
        return (without_arg(node, found[0]),)
