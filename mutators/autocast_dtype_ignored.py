from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import is_literal
from ._patterns import callee_name
from ._state import keyword, without_arg


class AutocastDtypeIgnored(Mutator):
    """``torch.autocast`` is called without the dtype it was given.

    Autocast's default dtype depends on the device: float16 on CUDA, bfloat16 on the CPU. A
    training step that takes ``amp_dtype`` (bfloat16 for stability on an A100, float16 on an
    older GPU) and drops it runs in the device default: bfloat16 requested, float16 used, and
    the overflows bfloat16 was chosen to avoid come back. Sites: a variable ``dtype=`` argument
    of an ``autocast`` call, dropped.
    """

    bug_id = "autocast_dtype_ignored"
    components = ("amp",)
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "autocast runs in the device's default dtype instead of the one requested"
    symptom = "bfloat16 was configured but float16 overflows (or the reverse) show up"
    hint = "print the dtype of a Linear layer's output under autocast"
    fix = "torch.autocast(device_type=device_type, dtype=amp_dtype)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "with torch.autocast(device_type=device_type, dtype=amp_dtype):\n    y = model(x)\n",
            "with torch.autocast(device_type=device_type):\n    y = model(x)\n",
        ),
        Example(
            "ctx = torch.amp.autocast(device_type=device_type, dtype=ptdtype)\n",
            "ctx = torch.amp.autocast(device_type=device_type)\n",
        ),
    )
    UNCHANGED = (
        "with torch.autocast(device_type='cuda', dtype=torch.float16):\n    y = m(x)\n",
        "x = torch.zeros(3, dtype=dtype)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if callee_name(node) != "autocast":
            return ()
        found = keyword(node, "dtype")
        if found is None or is_literal(found[1].value, "None") or not isinstance(found[1].value, cst.Name):
            return ()
        return (without_arg(node, found[0]),)
