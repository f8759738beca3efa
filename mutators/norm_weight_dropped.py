from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

_GAIN = m.Attribute(value=m.Name("self"), attr=m.Name("weight") | m.Name("gamma") | m.Name("g"))


class NormWeightDropped(Mutator):
    """A normalization's learned gain is never applied: ``x_hat * self.weight`` becomes ``x_hat``.

    A refactor that moves the normalization into a helper (``self._norm(x)``) and forgets the
    gain, or a copy of a "no affine" variant. The parameter still exists, is saved and counted,
    but receives no gradient: the network cannot rescale features after the norm, and a
    checkpoint trained with a gain gives different outputs. Sites: an elementwise product with
    ``self.weight`` (``self.gamma``, ``self.g``), on either side.
    """

    bug_id = "norm_weight_dropped"
    components = ("rmsnorm", "normalization")
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "a norm's learned gain (weight) is never multiplied in"
    symptom = "the norm's weight never changes during training; a trained checkpoint gives different outputs"
    hint = "check that the norm's weight receives a gradient"
    fix = "return normed * self.weight"
    node_types = (cst.BinaryOperation,)
    EXAMPLES = (
        Example("output = output * self.weight\n", "output = output\n"),
        Example("y = self.weight * hidden_states.to(input_dtype)\n", "y = hidden_states.to(input_dtype)\n"),
        Example("y = x_hat * self.weight + self.bias\n", "y = x_hat + self.bias\n"),
    )
    UNCHANGED = ("y = x @ self.weight\n", "loss = loss * weight\n", "y = q * self.scale\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.BinaryOperation)
        if not isinstance(node.operator, cst.Multiply):
            return ()
        if m.matches(node.right, _GAIN):
            return (node.left.with_changes(lpar=node.lpar, rpar=node.rpar) if node.lpar else node.left,)
        if m.matches(node.left, _GAIN):
            return (node.right.with_changes(lpar=node.lpar, rpar=node.rpar) if node.lpar else node.right,)
        return ()
