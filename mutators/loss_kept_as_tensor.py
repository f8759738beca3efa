from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

_ITEM = m.Call(func=m.Attribute(attr=m.Name("item")), args=[])


class LossKeptAsTensor(Mutator):
    """A recorded loss keeps its tensor: ``losses.append(loss)`` instead of ``loss.item()``.

    The values print the same, so the curve looks right, but every stored loss holds a
    reference to its whole autograd graph (activations included): memory grows with every
    step until the run dies out of memory, and callers that expect floats (JSON logging,
    ``sum(...) / n`` compared with a float) get tensors. Only ``.append(x.item())`` /
    ``.append(float(x))`` calls are sites: the place where a float is recorded.
    """

    bug_id = "loss_kept_as_tensor"
    components = ("training", "optimization", "schedule")
    category = Category.STATE_DEVICE
    layer = Layer.LOSS
    description = "record the loss tensor instead of loss.item() in the list of losses"
    symptom = "memory grows every step until out-of-memory; the loss history holds tensors"
    hint = "check type(losses[0]) and whether it has a grad_fn"
    fix = "append loss.item() (a Python float), never the loss tensor"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("losses.append(loss.item())\n", "losses.append(loss)\n"),
        Example("history.append(float(loss))\n", "history.append(loss)\n"),
    )
    UNCHANGED = ("losses.append(loss)\n", "x = loss.item()\n", "losses.append(float(a, b))\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if not m.matches(node, m.Call(func=m.Attribute(attr=m.Name("append")), args=[m.Arg(keyword=None)])):
            return ()
        value = node.args[0].value
        if m.matches(value, _ITEM):
            assert isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
            inner = value.func.value
        elif m.matches(value, m.Call(func=m.Name("float"), args=[m.Arg(keyword=None, star="")])):
            assert isinstance(value, cst.Call)
            inner = value.args[0].value
        else:
            return ()
        return (node.with_changes(args=[node.args[0].with_changes(value=inner)]),)
