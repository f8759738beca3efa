from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, SiteContext

from ._context import code, words
from ._patterns import callee_name, dotted_name

_SCALED = m.BinaryOperation(operator=m.Divide() | m.Multiply())
#: words of the number of micro-batches a loss is divided by
_ACCUMULATION_WORDS = frozenset(("accum", "accumulation", "accumulate", "micro", "acc"))


class AccumulationNotDivided(Mutator):
    """Accumulated micro-batch losses are not scaled before ``backward()``.

    With a mean-reduced loss, the gradient of a group of k micro-batches is the sum of their
    gradients only after each is weighted by its share of the group (1/k for equal sizes).
    Without the weight the accumulated gradient is k times too large: with Adam the scale
    mostly cancels and nothing shows, with SGD the effective learning rate grows with
    ``accum_steps`` and training diverges when it is raised. Sites, each losing the scaling:
    ``(loss * w).backward()`` or ``(loss / k).backward()``, the same inside
    ``scaler.scale(loss / k).backward()`` and ``accelerator.backward(loss / k)`` (or
    ``manual_backward``), and a statement ``loss = loss / k``, ``loss /= k`` or
    ``loss = criterion(out, y) / k`` dividing a loss that is backpropagated later in the function
    by a number of accumulation steps (``accum_steps``, ``gradient_accumulation_steps``...), in
    the function that backpropagates it or one that returns it (a name that says ``loss``).
    """

    bug_id = "accumulation_not_divided"
    components = ("optimization",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "accumulate micro-batch gradients without dividing by their number (or size share)"
    symptom = "loss diverges or oscillates when accum_steps is raised; fine with accum_steps=1"
    hint = "compare one accumulated step with the step on the concatenated batch"
    fix = "scale each micro-batch loss by its share of the group before backward()"
    node_types = (cst.Call, cst.SimpleStatementLine)
    EXAMPLES = (
        Example("(loss / accum_steps).backward()\n", "loss.backward()\n"),
        Example("(loss * (n / total)).backward()\n", "loss.backward()\n"),
        Example("scaler.scale(loss / accum_steps).backward()\n", "scaler.scale(loss).backward()\n"),
        Example("accelerator.backward(loss / accum_steps)\n", "accelerator.backward(loss)\n"),
        Example(
            "def step(model, x, y):\n"
            "    loss = model(x, y)\n"
            "    loss = loss / gradient_accumulation_steps\n"
            "    scaler.scale(loss).backward()\n",
            "def step(model, x, y):\n    loss = model(x, y)\n    scaler.scale(loss).backward()\n",
        ),
        Example(
            "def step(self, x, y):\n"
            "    loss = self.loss_fn(self(x), y) / self.accumulate\n    loss.backward()\n",
            "def step(self, x, y):\n    loss = self.loss_fn(self(x), y)\n    loss.backward()\n",
        ),
        Example(
            "def step(x, y):\n    loss = f(x, y)\n    loss /= accum_steps\n    loss.backward()\n",
            "def step(x, y):\n    loss = f(x, y)\n    loss.backward()\n",
        ),
    )
    UNCHANGED = (
        "loss.backward()\n",
        "(a + b).backward()\n",
        "def f(x):\n    loss = total / batch_size\n    loss.backward()\n",
        "def f(x):\n    avg = loss / accum_steps\n    print(avg)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.SimpleStatementLine):
            return _divided_statement(self.context, node)
        assert isinstance(node, cst.Call)
        if m.matches(node.func, m.Attribute(value=_SCALED, attr=m.Name("backward"))):
            assert isinstance(node.func, cst.Attribute) and isinstance(node.func.value, cst.BinaryOperation)
            return (node.with_changes(func=node.func.with_changes(value=node.func.value.left)),)
        # scaler.scale(loss / k).backward(): the scaling inside the GradScaler's call
        if m.matches(
            node.func,
            m.Attribute(value=m.Call(func=m.Attribute(attr=m.Name("scale"))), attr=m.Name("backward")),
        ):
            assert isinstance(node.func, cst.Attribute) and isinstance(node.func.value, cst.Call)
            scale = node.func.value
            if len(scale.args) == 1 and m.matches(scale.args[0].value, _SCALED):
                scaled = scale.args[0].value
                assert isinstance(scaled, cst.BinaryOperation)
                unscaled = scale.with_changes(args=[scale.args[0].with_changes(value=scaled.left)])
                return (node.with_changes(func=node.func.with_changes(value=unscaled)),)
            return ()
        # accelerator.backward(loss / k), self.manual_backward(loss / k)
        if (callee_name(node) or "").endswith("backward") and len(node.args) == 1:
            value = node.args[0].value
            if m.matches(value, _SCALED) and node.args[0].keyword is None:
                assert isinstance(value, cst.BinaryOperation)
                return (node.with_changes(args=[node.args[0].with_changes(value=value.left)]),)
        return ()


def _counts_micro_batches(expr: cst.BaseExpression) -> bool:
    name = dotted_name(expr)
    return name is not None and bool(words(name.split(".")[-1]) & _ACCUMULATION_WORDS)


def _divided_statement(context: SiteContext, line: cst.SimpleStatementLine) -> Sequence[Replacement]:
    """``loss = loss / k`` (removed), ``loss /= k`` (removed) or ``loss = f(...) / k`` (the
    division dropped), for a loss backpropagated later and ``k`` a number of micro-batches."""
    if len(line.body) != 1:
        return ()
    small = line.body[0]
    if isinstance(small, cst.AugAssign) and isinstance(small.operator, cst.DivideAssign):
        target, divisor = small.target, small.value
        if isinstance(target, cst.Name) and _counts_micro_batches(divisor) and _a_loss(context, target.value):
            return (cst.RemoveFromParent(),)
        return ()
    if (
        not isinstance(small, cst.Assign)
        or len(small.targets) != 1
        or not isinstance(small.targets[0].target, cst.Name)
    ):
        return ()
    name = small.targets[0].target.value
    value = small.value
    if not (isinstance(value, cst.BinaryOperation) and isinstance(value.operator, cst.Divide)):
        return ()
    if not _counts_micro_batches(value.right) or not _a_loss(context, name):
        return ()
    if m.matches(value.left, m.Name(name)):
        return (cst.RemoveFromParent(),)
    return (line.with_changes(body=[small.with_changes(value=value.left)]),)


def _a_loss(context: SiteContext, name: str) -> bool:
    """Whether ``name`` is the loss: named so (``loss``, ``_loss``), or backpropagated."""
    return "loss" in words(name) or _backpropagated(context, name)


def _backpropagated(context: SiteContext, name: str) -> bool:
    """Whether ``name`` is backpropagated in the site's function: ``name.backward()``,
    ``scaler.scale(name).backward()``, ``accelerator.backward(name)``."""
    scope: cst.CSTNode | None = context.function
    if scope is None:
        scope = context.module
    if scope is None:
        return True  # outside the engine nothing is known
    for call in m.findall(scope, m.Call()):
        assert isinstance(call, cst.Call)
        if not (callee_name(call) or "").endswith("backward"):
            continue
        target = call.func.value if isinstance(call.func, cst.Attribute) else call.func
        if m.findall(target, m.Name(name)) or any(code(a.value) == name for a in call.args):
            return True
    return False
