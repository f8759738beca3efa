from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, Rewrite

from ._context import under_no_grad

_NAME_ITEM = m.Call(func=m.Attribute(value=m.Name(), attr=m.Name("item")), args=[])


class _DropItem(cst.CSTTransformer):
    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if m.matches(updated_node, _NAME_ITEM):
            assert isinstance(updated_node.func, cst.Attribute)
            return updated_node.func.value
        return updated_node


class LossAccumulatedAsTensor(Mutator):
    """A running total adds the loss tensor instead of ``loss.item()``: ``total += loss``.

    The sum prints the same number, but ``total`` becomes a tensor that chains every batch's
    autograd graph (during training) so memory grows until out-of-memory, each ``+=`` is a
    device op that syncs nothing until the end, and the function returns a tensor where a
    float is promised. Sites: ``+=`` whose value calls ``name.item()`` (the loss of this
    batch); an ``.item()`` at the end of a reduction chain such as ``(pred == y).sum().item()``
    is a count, not a loss, and is left alone. Under ``no_grad`` there is no graph to keep: the
    bug there is the tensor returned (and a device sync per batch), and it is named so.
    """

    bug_id = "loss_accumulated_as_tensor"
    components = ("grad_clip", "evaluation")
    category = Category.STATE_DEVICE
    layer = Layer.LOSS
    description = "accumulate the loss tensor (total += loss) instead of loss.item()"
    symptom = "memory grows with every batch; the returned mean loss is a tensor"
    hint = "check type(total_loss) after the loop"
    fix = "total += loss.item() (times the batch size where examples are weighted)"
    node_types = (cst.AugAssign,)
    EXAMPLES = (
        Example("total += loss.item()\n", "total += loss\n"),
        Example("total_loss += loss.item() * x.size(0)\n", "total_loss += loss * x.size(0)\n"),
    )
    UNCHANGED = ("correct += (p == y).sum().item()\n", "total += loss\n", "total -= loss.item()\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement | Rewrite]:
        assert isinstance(node, cst.AugAssign)
        if not isinstance(node.operator, cst.AddAssign) or not m.findall(node.value, _NAME_ITEM):
            return ()
        kept = node.with_changes(value=node.value.visit(_DropItem()))
        if under_no_grad(self.context):
            return (
                Rewrite(
                    kept, "accumulate the loss tensor instead of loss.item(): the total becomes a tensor"
                ),
            )
        return (kept,)
