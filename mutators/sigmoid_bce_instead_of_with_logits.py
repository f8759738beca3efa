from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._context import name_available
from ._numerics import atom_code, code, subexpressions
from ._patterns import callee_name

_STABLE_FORM = m.BinaryOperation(
    operator=m.Add(),
    left=m.BinaryOperation(operator=m.Subtract(), right=m.BinaryOperation(operator=m.Multiply())),
    right=m.Call(),
)


class SigmoidBceInsteadOfWithLogits(Mutator):
    """Binary cross entropy from ``log(sigmoid(x))`` instead of the logits form.

    ``-(y log sigmoid(x) + (1 - y) log(1 - sigmoid(x)))`` is the textbook formula, and it is
    what ``BCELoss(sigmoid(x))`` computes. In float32 ``sigmoid(x)`` rounds to exactly 1 for
    x above about 17 (and to 0 below about -88), so a log of 0 appears: inf loss, NaN
    gradients, once the model is confident about a single example. The stable form
    ``max(x, 0) - x y + log1p(exp(-|x|))`` never takes a log of a probability. The site is that
    stable form (``A - x * y + log1p(...)``); ``x`` is the factor of the product that also
    appears inside the log1p term.
    """

    bug_id = "sigmoid_bce_instead_of_with_logits"
    components = ("numerics",)
    category = Category.OBJECTIVE
    layer = Layer.NUMERICS
    description = "BCE as -(y log(sigmoid(x)) + (1-y) log(1-sigmoid(x))) instead of the logits form"
    symptom = "NaN loss after some steps, when the model becomes confident on an example"
    hint = "search for log(sigmoid(...)) or BCELoss after a sigmoid"
    fix = "use binary_cross_entropy_with_logits (max(x,0) - x*y + log1p(exp(-|x|))) on raw logits"
    loud = True
    node_types = (cst.BinaryOperation,)
    EXAMPLES = (
        Example(
            "l = x.clamp(min=0) - x * y + torch.log1p(torch.exp(-x.abs()))\n",
            "l = -(y * torch.log(torch.sigmoid(x)) + (1 - y) * torch.log(1 - torch.sigmoid(x)))\n",
        ),
        Example(
            "l = F.relu(z) - t * z + torch.log1p(torch.exp(-torch.abs(z)))\n",
            "l = -(t * torch.log(torch.sigmoid(z)) + (1 - t) * torch.log(1 - torch.sigmoid(z)))\n",
        ),
    )
    UNCHANGED = ("l = a - b * c + torch.log(d)\n", "l = a - b * c + d\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if not m.matches(node, _STABLE_FORM):
            return ()
        if not name_available(self.context, "torch"):
            return ()  # the rewrite spells torch: a NameError where it is not imported
        assert isinstance(node, cst.BinaryOperation)
        assert isinstance(node.left, cst.BinaryOperation) and isinstance(node.left.right, cst.BinaryOperation)
        assert isinstance(node.right, cst.Call)
        if callee_name(node.right) not in ("log1p", "softplus"):
            return ()
        product = node.left.right
        softplus_term = subexpressions(node.right)
        if code(product.left) in softplus_term:
            logits, targets = product.left, product.right
        elif code(product.right) in softplus_term:
            logits, targets = product.right, product.left
        else:
            return ()
        x, y = atom_code(logits), atom_code(targets)
        return (
            cst.parse_expression(
                f"-({y} * torch.log(torch.sigmoid({x})) + (1 - {y}) * torch.log(1 - torch.sigmoid({x})))"
            ),
        )
