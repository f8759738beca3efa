from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._state import attribute_assignment, register_buffer_parts


class BufferNotRegistered(Mutator):
    """A tensor the module owns is stored as a plain attribute instead of a buffer.

    ``self.pe = pe`` works on the CPU, so every test written there passes. But ``.to(device)``,
    ``.half()`` and ``state_dict()`` only know parameters and buffers: after ``model.cuda()``
    the table or the cache stays on the CPU and the first forward pass fails with a device
    mismatch (or, for a cache written in place, silently keeps the CPU copy), and checkpoints
    do not contain it. Any ``register_buffer("name", value)`` statement is a site (a value over
    several lines, nanoGPT's causal-mask buffer, keeps its lines inside parentheses).
    """

    bug_id = "buffer_not_registered"
    components = ("positional_encoding", "kv_cache", "rope")
    category = Category.STATE_DEVICE
    layer = Layer.SHAPES
    description = "store a tensor as a plain attribute instead of register_buffer"
    symptom = "RuntimeError: Expected all tensors to be on the same device, after model.to('cuda')"
    hint = "compare list(model.buffers()) with the tensors the module keeps between calls"
    fix = 'self.register_buffer("name", tensor) so that .to() and state_dict() see it'
    cpu_check = (
        'call model.to("meta") and then the forward on meta inputs: a tensor kept as a plain '
        "attribute stays on the CPU and the forward raises"
    )
    node_types = (cst.SimpleStatementLine,)
    EXAMPLES = (
        Example('self.register_buffer("pe", pe.unsqueeze(0))\n', "self.pe = pe.unsqueeze(0)\n"),
        Example(
            'self.register_buffer("k_cache", torch.zeros(shape), persistent=False)\n',
            "self.k_cache = torch.zeros(shape)\n",
        ),
        Example(
            'self.register_buffer(\n    "bias",\n'
            "    torch.tril(torch.ones(n, n))\n    .view(1, 1, n, n),\n)\n",
            "self.bias = (torch.tril(torch.ones(n, n))\n    .view(1, 1, n, n))\n",
        ),
    )
    UNCHANGED = ("self.pe = pe\n", 'self.register_parameter("w", w)\n')

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.SimpleStatementLine)
        parts = register_buffer_parts(node)
        if parts is None:
            return ()
        owner, name, value = parts
        return (attribute_assignment(node, owner, name, value),)
