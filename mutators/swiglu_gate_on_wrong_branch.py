from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import callee_name, code

_ACTIVATIONS = ("silu", "gelu", "act_fn", "act", "activation", "swish", "activation_fn")


def _activation_operand(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """``x`` of ``F.silu(x)``, ``self.act_fn(x)``, ``nn.functional.gelu(x)``."""
    if not isinstance(expr, cst.Call) or callee_name(expr) not in _ACTIVATIONS:
        return None
    if len(expr.args) != 1 or expr.args[0].keyword is not None or expr.args[0].star:
        return None
    return expr.args[0].value


class SwigluGateOnWrongBranch(Mutator):
    """SwiGLU applies the SiLU to the value branch instead of the gate: ``w1(x) * silu(w3(x))``.

    The gated feed-forward is ``w2(silu(w1(x)) * w3(x))``; the two inner projections have the
    same shape, so putting the activation on the other one (or swapping ``w1`` and ``w3``
    somewhere in a refactor) changes nothing a shape check sees, and a model trained from
    scratch learns around it. A pretrained checkpoint (Llama, Mistral: ``gate_proj`` and
    ``up_proj``) then computes a different function and gives garbage. Sites: a product of an
    activation of one projection and another (``act(a) * b``, either order); the activation moves
    to the other operand.
    """

    bug_id = "swiglu_gate_on_wrong_branch"
    components = ("llama_block",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "SwiGLU's SiLU on the value branch (w3) instead of the gate (w1)"
    symptom = "a pretrained Llama checkpoint gives garbage; training from scratch is only slightly worse"
    hint = "which projection goes through the SiLU: w1 (gate_proj) or w3 (up_proj)?"
    fix = "return self.w2(F.silu(self.w1(x)) * self.w3(x))"
    node_types = (cst.BinaryOperation,)
    EXAMPLES = (
        Example(
            "y = self.w2(F.silu(self.w1(x)) * self.w3(x))\n",
            "y = self.w2(self.w1(x) * F.silu(self.w3(x)))\n",
        ),
        Example(
            "y = self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))\n",
            "y = self.down_proj(self.gate_proj(x) * self.act_fn(self.up_proj(x)))\n",
        ),
        Example(
            "x = torch.nn.functional.silu(x_fc_1) * x_fc_2\n",
            "x = x_fc_1 * torch.nn.functional.silu(x_fc_2)\n",
        ),
    )
    UNCHANGED = ("y = x * torch.sigmoid(x)\n", "y = F.silu(x) * x\n", "y = F.silu(x) * 2\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.BinaryOperation)
        if not isinstance(node.operator, cst.Multiply):
            return ()
        for activated, other, left in ((node.left, node.right, True), (node.right, node.left, False)):
            operand = _activation_operand(activated)
            if operand is None or not isinstance(other, (cst.Call, cst.Name, cst.Attribute)):
                continue
            if code(operand) == code(other):
                continue
            assert isinstance(activated, cst.Call)
            moved = activated.with_changes(args=[activated.args[0].with_changes(value=other)])
            if left:
                return (node.with_changes(left=operand, right=moved),)
            return (node.with_changes(left=moved, right=operand),)
        return ()
