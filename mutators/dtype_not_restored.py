from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm import cast_back_receiver


class DtypeNotRestored(Mutator):
    """A result computed in float32 is not cast back to the input's dtype.

    Norms and rotary embeddings compute in float32 for accuracy and hand back the input's dtype
    (``.type_as(x)``, ``.to(input_dtype)``, ``.to(x.dtype)``). Without the cast a bfloat16 model
    silently turns float32 after the first norm: every later matmul runs at float32 speed and
    memory, activations no longer match the weights' dtype (``mat1 and mat2 must have the same
    dtype`` somewhere downstream, or a fused kernel silently falls back), and float32 tests see
    nothing. Sites: ``y.to(x.dtype)``, ``y.to(dtype=input_dtype)``, ``y.type_as(x)``; casts of
    masks, and of parameters to the input's dtype, are left alone.
    """

    bug_id = "dtype_not_restored"
    components = ("rmsnorm", "rope")
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "a float32 intermediate is not cast back to the input's dtype (bf16 in, float32 out)"
    symptom = "a bfloat16 model runs in float32 after the first norm: slower, twice the memory, dtype errors"
    hint = "feed a bfloat16 tensor and print the dtype of the output"
    fix = "cast the result back: output.type_as(x) (or .to(input_dtype))"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("output = self._norm(x.float()).type_as(x)\n", "output = self._norm(x.float())\n"),
        Example(
            "y = self.weight * hidden_states.to(input_dtype)\n",
            "y = self.weight * hidden_states\n",
        ),
        Example(
            "q_embed = (q * cos + rotate_half(q) * sin).to(q.dtype)\n",
            "q_embed = (q * cos + rotate_half(q) * sin)\n",
        ),
        Example("c = cos.to(dtype=x.dtype)\n", "c = cos\n"),
    )
    UNCHANGED = (
        "mask = mask.to(dtype)\n",
        "y = x.to(device)\n",
        "y = x.to(torch.float32)\n",
        "y = F.linear(x, self.weight.to(x.dtype))\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        receiver = cast_back_receiver(node)
        return () if receiver is None else (receiver,)
