from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, SiteContext

from ._attention import calls_in
from ._patterns import callee_name, dotted_name
from ._state import FACTORIES, is_torch_call, keyword, mentions, without_arg


class CausalMaskNotBool(Mutator):
    """The mask is left as a float 0/1 tensor instead of a boolean one.

    ``torch.tril(torch.ones(T, T))`` is float. ``scaled_dot_product_attention`` reads a float
    mask as an *additive* bias, so "1 = may attend, 0 = blocked" becomes "add 1 to the
    allowed scores": nothing is masked at all. Hand-written attention fails on ``~mask`` or
    ``masked_fill`` instead. Sites: ``dtype=torch.bool`` in a factory call whose tensor becomes
    a triangle (``tril(ones(..., dtype=torch.bool))``, or bound to a name given to ``tril``), and
    a ``.bool()`` of a triangle (both dropped). A boolean tensor that is no triangle (a
    vocabulary mask, a table of heads) is no causal mask; and where the mask is negated with
    ``~`` or handed to ``masked_fill`` (in its statement, or by the callers of the function that
    returns it), a float mask fails at once or changes nothing: no site either.
    """

    bug_id = "causal_mask_not_bool"
    components = ("masks",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "leave the mask as float 0/1 instead of bool (SDPA then adds it to the scores)"
    symptom = "the model reads the future although a mask is passed; or ~mask raises a TypeError"
    hint = "print mask.dtype: boolean masks mean 'may attend', float masks are added to the scores"
    fix = "torch.tril(torch.ones(T, T, dtype=torch.bool)) or .bool() on the result"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "m = torch.tril(torch.ones(t, t, dtype=torch.bool))\n",
            "m = torch.tril(torch.ones(t, t))\n",
        ),
        Example("m = torch.tril(torch.ones(t, t)).bool()\n", "m = torch.tril(torch.ones(t, t))\n"),
    )
    UNCHANGED = (
        "m = torch.ones(t, dtype=dtype)\n",
        "m = x.to(torch.bool)\n",
        "mask = torch.ones(logits.shape[-1], dtype=torch.bool)\n",
        "mask = ~torch.zeros_like(inp).scatter(1, indices, 1.0).bool()\n",
        "s = s.masked_fill(~torch.tril(torch.ones(t, t, dtype=torch.bool)), -1e9)\n",
        "def causal(i, j):\n    return torch.ones(i, j, dtype=torch.bool).triu(j - i + 1)\n"
        "def attend(s, i, j):\n    blocked = causal(i, j)\n    return s.masked_fill(blocked, -1e9)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        context = self.context
        if callee_name(node) == "bool" and not node.args and isinstance(node.func, cst.Attribute):
            if not _is_triangle(context, node.func.value) or _used_as_boolean(context):
                return ()
            return (node.func.value,)
        if not is_torch_call(node, FACTORIES):
            return ()
        found = keyword(node, "dtype")
        if found is None or dotted_name(found[1].value) != "torch.bool":
            return ()
        if not _into_triangle(context) or _used_as_boolean(context):
            return ()
        return (without_arg(node, found[0]),)


_TRIANGLES = ("tril", "triu", "tril_", "triu_")


def _is_triangle(context: SiteContext, expr: cst.BaseExpression) -> bool:
    """Whether ``expr`` is (or was assigned) a ``tril``/``triu`` of something."""
    if isinstance(expr, cst.Name):
        source = context.value_of(expr)
        return source is not None and _is_triangle(context, source)
    return any(callee_name(c) in _TRIANGLES for c in calls_in(expr))


def _into_triangle(context: SiteContext) -> bool:
    """Whether the factory's tensor becomes a triangle: ``ones(...).tril()``, ``tril(ones(...))``,
    or a name bound to it and passed to ``tril`` later in the function."""
    parent = context.parent
    grand = context.ancestors[1] if len(context.ancestors) > 1 else None
    if isinstance(parent, (cst.Attribute, cst.Arg)) and isinstance(grand, cst.Call):
        return callee_name(grand) in _TRIANGLES
    assign = context.parent
    if (
        isinstance(assign, cst.Assign)
        and len(assign.targets) == 1
        and isinstance(assign.targets[0].target, cst.Name)
    ):
        name = assign.targets[0].target.value
        scope = context.function or context.module
        if scope is None:
            return False
        return any(
            callee_name(c) in _TRIANGLES and any(mentions(a.value, name) for a in c.args)
            for c in calls_in(scope)
        ) or any(
            callee_name(c) in _TRIANGLES
            and isinstance(c.func, cst.Attribute)
            and mentions(c.func.value, name)
            for c in calls_in(scope)
        )
    return False


def _used_as_boolean(context: SiteContext) -> bool:
    """Whether the mask is negated with ``~`` or given to ``masked_fill``, where a float mask
    fails at once (no silent bug): in the site's statement, or, for a mask a function returns,
    where the module's callers of that function use its result."""
    statement = context.statement
    if statement is not None and _negated_or_filled(statement, None):
        return True
    function = context.function
    module = context.module
    if function is None or module is None or not isinstance(statement, cst.SimpleStatementLine):
        return False
    if not any(isinstance(small, cst.Return) for small in statement.body):
        return False
    name = function.name.value
    for caller in m.findall(module, m.FunctionDef()):
        assert isinstance(caller, cst.FunctionDef)
        for assign in m.findall(caller, m.Assign(value=m.Call())):
            assert isinstance(assign, cst.Assign) and isinstance(assign.value, cst.Call)
            if callee_name(assign.value) != name or not isinstance(assign.targets[0].target, cst.Name):
                continue
            if _negated_or_filled(caller, assign.targets[0].target.value):
                return True
    return False


def _negated_or_filled(node: cst.CSTNode, name: str | None) -> bool:
    """``~mask`` or ``x.masked_fill(mask, ...)`` in ``node``, of ``name`` (of anything when
    ``None``)."""

    def reads(expr: cst.CSTNode) -> bool:
        return name is None or mentions(expr, name)

    for inverted in m.findall(node, m.UnaryOperation(operator=m.BitInvert())):
        assert isinstance(inverted, cst.UnaryOperation)
        if reads(inverted.expression):
            return True
    for call in calls_in(node):
        if callee_name(call) in ("masked_fill", "masked_fill_") and call.args and reads(call.args[0].value):
            return True
    return False
