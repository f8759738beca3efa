from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._context import is_loss_like, under_no_grad, words
from ._patterns import dotted_name

#: words of an average meter that records a loss
_METER_WORDS = frozenset(("losses", "loss", "meter", "meters", "avg", "m"))

_ITEM = m.Call(func=m.Attribute(attr=m.Name("item")), args=[])


class LossKeptAsTensor(Mutator):
    """A recorded loss keeps its tensor: ``losses.append(loss)`` instead of ``loss.item()``.

    The values print the same, so the curve looks right, but every stored loss holds a
    reference to its whole autograd graph (activations included): memory grows with every
    step until the run dies out of memory, and callers that expect floats (JSON logging,
    ``sum(...) / n`` compared with a float) get tensors. Sites are where a float is recorded:
    ``.append(x.item())`` / ``.append(float(x))``, ``losses[k] = loss.item()`` and an average
    meter's ``losses.update(loss.item(), n)``; none under ``no_grad``, where no graph is kept.
    """

    bug_id = "loss_kept_as_tensor"
    components = ("training", "optimization", "schedule")
    category = Category.STATE_DEVICE
    layer = Layer.LOSS
    description = "record the loss tensor instead of loss.item() in the list of losses"
    symptom = "memory grows every step until out-of-memory; the loss history holds tensors"
    hint = "check type(losses[0]) and whether it has a grad_fn"
    fix = "append loss.item() (a Python float), never the loss tensor"
    node_types = (cst.Call, cst.Assign)
    EXAMPLES = (
        Example("losses.append(loss.item())\n", "losses.append(loss)\n"),
        Example("history.append(float(loss))\n", "history.append(loss)\n"),
        Example("losses[k] = loss.item()\n", "losses[k] = loss\n"),
        Example("losses_m.update(loss.item(), input.size(0))\n", "losses_m.update(loss, input.size(0))\n"),
    )
    UNCHANGED = (
        "losses.append(loss)\n",
        "x = loss.item()\n",
        "losses.append(float(a, b))\n",
        "@torch.no_grad()\ndef estimate(k):\n    losses = torch.zeros(k)\n    losses[k] = loss.item()\n",
        "top1.update(acc1.item(), n)\n",
        "config.update(vars(args))\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if under_no_grad(self.context):
            return ()  # no graph to keep alive: the value alone is recorded either way
        if isinstance(node, cst.Assign):
            return self._stored(node)
        assert isinstance(node, cst.Call)
        if m.matches(node, m.Call(func=m.Attribute(attr=m.Name("update")))) and _is_meter(node):
            inner = _as_float(node.args[0].value) if node.args and node.args[0].keyword is None else None
            if inner is None or not is_loss_like(inner):
                return ()
            return (node.with_changes(args=[node.args[0].with_changes(value=inner), *node.args[1:]]),)
        if not m.matches(node, m.Call(func=m.Attribute(attr=m.Name("append")), args=[m.Arg(keyword=None)])):
            return ()
        inner = _as_float(node.args[0].value)
        if inner is None:
            return ()
        return (node.with_changes(args=[node.args[0].with_changes(value=inner)]),)

    def _stored(self, node: cst.Assign) -> Sequence[Replacement]:
        """``losses[k] = loss.item()``: the float stored into a list, dict or tensor by index."""
        if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Subscript):
            return ()
        inner = _as_float(node.value)
        if inner is None or not is_loss_like(inner):
            return ()
        return (node.with_changes(value=inner),)


def _as_float(value: cst.BaseExpression) -> cst.BaseExpression | None:
    """``x`` of ``x.item()`` or ``float(x)``."""
    if m.matches(value, _ITEM):
        assert isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
        return value.func.value
    if m.matches(value, m.Call(func=m.Name("float"), args=[m.Arg(keyword=None, star="")])):
        assert isinstance(value, cst.Call)
        return value.args[0].value
    return None


def _is_meter(call: cst.Call) -> bool:
    """``losses.update(v, n)`` of an average meter (``losses``, ``losses_m``, ``loss_meter``)."""
    assert isinstance(call.func, cst.Attribute)
    receiver = dotted_name(call.func.value)
    return (
        receiver is not None and bool(words(receiver.split(".")[-1]) & _METER_WORDS) and len(call.args) >= 1
    )
