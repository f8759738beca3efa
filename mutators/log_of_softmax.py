from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._context import name_available
from ._numerics import atom_code, code, is_module_call, operand
from ._patterns import argument, callee_name


class LogOfSoftmax(Mutator):
    """Log-probabilities are computed as ``log(softmax(x))`` instead of ``log_softmax(x)``.

    Mathematically the same, numerically not: once one logit leads by more than about 104
    (float32), the other probabilities underflow to exactly 0 and their log is -inf; the
    loss of such a target is inf and its gradient NaN. ``log_softmax`` computes
    ``x - logsumexp(x)`` and never takes the log of a probability. Two forms are sites: a call
    to ``log_softmax`` (which becomes ``log`` of the same call to ``softmax``) and the
    subtraction ``x - logsumexp(x, ...)`` itself.
    """

    bug_id = "log_of_softmax"
    components = ("numerics", "lm_loss")
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "log(softmax(x)) instead of log_softmax(x) / x - logsumexp(x)"
    symptom = "loss becomes inf, then NaN, as soon as the model gets confident"
    hint = "look for a log applied to probabilities; check for -inf in the log-probabilities"
    fix = "use log_softmax (x - logsumexp(x)), or pass logits to cross_entropy directly"
    loud = True
    node_types = (cst.Call, cst.BinaryOperation)
    EXAMPLES = (
        Example("lp = F.log_softmax(z, dim=-1)\n", "lp = torch.log(F.softmax(z, dim=-1))\n"),
        Example("lp = z.log_softmax(-1)\n", "lp = z.softmax(-1).log()\n"),
        Example("lp = x - logsumexp(x, dim=d).unsqueeze(d)\n", "lp = torch.log(torch.softmax(x, dim=d))\n"),
        Example(
            "lp = x - torch.logsumexp(x, -1, keepdim=True)\n", "lp = torch.log(torch.softmax(x, dim=-1))\n"
        ),
    )
    UNCHANGED = ("lp = x - torch.logsumexp(y, -1, keepdim=True)\n", "p = torch.softmax(z, -1)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.Call):
            return self._call(node)
        assert isinstance(node, cst.BinaryOperation)
        return self._subtraction(node)

    def _call(self, node: cst.Call) -> Sequence[Replacement]:
        if callee_name(node) != "log_softmax":
            return ()
        func = node.func
        renamed = node.with_changes(
            func=func.with_changes(attr=cst.Name("softmax"))
            if isinstance(func, cst.Attribute)
            else cst.Name("softmax")
        )
        if is_module_call(node):
            if not name_available(self.context, "torch"):
                return ()  # torch.log would be a NameError
            return (cst.parse_expression(f"torch.log({code(renamed)})"),)
        return (cst.Call(func=cst.Attribute(value=renamed, attr=cst.Name("log"))),)

    def _subtraction(self, node: cst.BinaryOperation) -> Sequence[Replacement]:
        if not isinstance(node.operator, cst.Subtract):
            return ()
        reduction = node.right
        # logsumexp(x, dim).unsqueeze(dim) keeps the axis after the fact
        if isinstance(reduction, cst.Call) and callee_name(reduction) == "unsqueeze":
            reduction = operand(reduction) or reduction
        if not isinstance(reduction, cst.Call) or callee_name(reduction) != "logsumexp":
            return ()
        reduced = operand(reduction)
        if reduced is None or code(reduced) != code(node.left):
            return ()
        if not name_available(self.context, "torch"):
            return ()
        found = argument(reduction, keyword="dim", position=1 if is_module_call(reduction) else 0)
        dim = "-1" if found is None else code(found[1].value)
        return (cst.parse_expression(f"torch.log(torch.softmax({atom_code(node.left)}, dim={dim}))"),)
