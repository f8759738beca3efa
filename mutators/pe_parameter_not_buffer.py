from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._state import attribute_assignment, register_buffer_parts


class PeParameterNotBuffer(Mutator):
    """The fixed positional table is registered as a trainable ``nn.Parameter``.

    ``self.pe = nn.Parameter(pe)`` looks like the natural way to "attach a tensor to a
    module", and it does move with ``.to()`` and appear in the state_dict, so nothing breaks.
    But the optimizer now trains the sinusoidal table (with weight decay, even), the parameter
    count grows by ``max_len * d_model`` and the encoding drifts away from the closed form the
    model was designed around. Any ``register_buffer("name", value)`` statement is a site.
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
        Example('self.register_buffer("pe", pe.unsqueeze(0))\n', "self.pe = nn.Parameter(pe.unsqueeze(0))\n"),
        Example(
            "self.register_buffer('table', t, persistent=True)  # fixed\n",
            "self.table = nn.Parameter(t)  # fixed\n",
        ),
    )
    UNCHANGED = ("self.pe = pe\n", "register_buffer(pe)\n", "self.register_buffer(name, pe)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.SimpleStatementLine)
        parts = register_buffer_parts(node)
        if parts is None:
            return ()
        owner, name, value = parts
        parameter = cst.Call(
            func=cst.Attribute(value=cst.Name("nn"), attr=cst.Name("Parameter")), args=[cst.Arg(value)]
        )
        return (attribute_assignment(node, owner, name, parameter),)
