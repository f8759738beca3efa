"""libcst matchers shared by the attention and decoder mutators."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.mutation import SiteContext

from ._patterns import argument, callee_name, dotted_name, int_literal

_MODULES = ("torch", "F", "nn.functional", "torch.nn.functional", "functional")

#: a negative literal at least this large in magnitude is a "minus infinity" fill value
_BIG = 1e3


def _negated(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    if m.matches(expr, m.UnaryOperation(operator=m.Minus())):
        assert isinstance(expr, cst.UnaryOperation)
        return expr.expression
    return None


def _is_inf(expr: cst.BaseExpression) -> bool:
    """``float("inf")``, ``math.inf``, ``torch.inf``, ``np.inf``."""
    if isinstance(expr, cst.Call) and callee_name(expr) == "float" and len(expr.args) == 1:
        text = expr.args[0].value
        return isinstance(text, cst.SimpleString) and text.evaluated_value.lower() in ("inf", "+inf")
    name = dotted_name(expr)
    return name is not None and name.split(".")[-1] == "inf"


def is_minus_infinity_fill(expr: cst.BaseExpression) -> bool:
    """A value that stands for minus infinity in a masked score: ``float("-inf")``,
    ``-math.inf``, ``-1e9``, ``torch.finfo(dtype).min``, ``-torch.finfo(dtype).max``."""
    if isinstance(expr, cst.Call) and callee_name(expr) == "float" and len(expr.args) == 1:
        text = expr.args[0].value
        return isinstance(text, cst.SimpleString) and text.evaluated_value.lower() == "-inf"
    if m.matches(expr, m.Attribute(value=m.Call(), attr=m.Name("min"))):
        assert isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Call)
        return callee_name(expr.value) in ("finfo", "iinfo")
    inner = _negated(expr)
    if inner is None:
        return False
    if _is_inf(inner):
        return True
    if m.matches(inner, m.Attribute(value=m.Call(), attr=m.Name("max"))):
        assert isinstance(inner, cst.Attribute) and isinstance(inner.value, cst.Call)
        return callee_name(inner.value) == "finfo"
    if isinstance(inner, (cst.Float, cst.Integer)):
        return abs(float(inner.value.replace("_", ""))) >= _BIG
    return False


def masked_fill_args(call: cst.Call) -> tuple[tuple[int, cst.Arg], tuple[int, cst.Arg]] | None:
    """``(mask, value)`` arguments of ``x.masked_fill(mask, value)`` or
    ``torch.masked_fill(x, mask, value)`` (in-place forms too), each with its index."""
    if callee_name(call) not in ("masked_fill", "masked_fill_"):
        return None
    func = call.func
    is_method = isinstance(func, cst.Attribute) and dotted_name(func.value) not in _MODULES
    offset = 0 if is_method else 1
    mask = argument(call, keyword="mask", position=offset)
    value = argument(call, keyword="value", position=offset + 1)
    if mask is None or value is None:
        return None
    return mask, value


def where_fill_args(call: cst.Call) -> tuple[tuple[int, cst.Arg], tuple[int, cst.Arg]] | None:
    """``(condition, fill)`` of ``torch.where(cond, scores, -inf)`` (the fill in either branch)."""
    if callee_name(call) != "where" or dotted_name(call.func) not in ("torch.where", "where"):
        return None
    condition = argument(call, keyword="condition", position=0)
    if condition is None:
        return None
    for keyword, position in (("other", 2), ("input", 1)):
        found = argument(call, keyword=keyword, position=position)
        if found is not None and is_minus_infinity_fill(found[1].value):
            return condition, found
    return None


def calls_in(node: cst.CSTNode) -> Iterator[cst.Call]:
    """Every call inside ``node`` (``node`` included), in source order."""
    found: list[cst.Call] = []

    class _Collect(cst.CSTVisitor):
        def visit_Call(self, call: cst.Call) -> None:
            found.append(call)

    node.visit(_Collect())
    return iter(found)


def is_int_call(call: cst.Call, name: str, values: tuple[int, ...]) -> bool:
    """``x.name(*values)`` with literal integer arguments, e.g. ``x.transpose(1, 2)``."""
    if callee_name(call) != name or not isinstance(call.func, cst.Attribute):
        return False
    if len(call.args) != len(values) or any(a.keyword is not None or a.star for a in call.args):
        return False
    return tuple(int_literal(a.value) for a in call.args) == values


def is_head_swap(call: cst.Call) -> bool:
    """``x.transpose(1, 2)``, ``x.transpose(2, 1)`` or ``x.permute(0, 2, 1, 3)``: the swap of
    the length and head axes of a ``(B, T, H, d_k)`` tensor."""
    return (
        is_int_call(call, "transpose", (1, 2))
        or is_int_call(call, "transpose", (2, 1))
        or is_int_call(call, "permute", (0, 2, 1, 3))
    )


def is_reshape(call: cst.Call, *, dims: int) -> bool:
    """``x.view(...)`` or ``x.reshape(...)`` to ``dims`` positional sizes."""
    return (
        callee_name(call) in ("view", "reshape")
        and isinstance(call.func, cst.Attribute)
        and len(call.args) == dims
        and all(a.keyword is None and not a.star for a in call.args)
    )


def receiver(call: cst.Call) -> cst.BaseExpression:
    """``x`` of the method call ``x.name(...)``."""
    assert isinstance(call.func, cst.Attribute)
    return call.func.value


def replace_node(tree: cst.CSTNode, old: cst.CSTNode, new: cst.CSTNode) -> cst.CSTNode:
    """``tree`` with the node ``old`` (by identity) replaced by ``new``."""
    return replace_nodes(tree, {id(old): new})


def replace_nodes(tree: cst.CSTNode, replacements: Mapping[int, cst.CSTNode]) -> cst.CSTNode:
    """``tree`` with each node whose ``id`` is a key replaced by its value, in one pass."""

    class _Replace(cst.CSTTransformer):
        def on_leave(self, original: cst.CSTNode, updated: cst.CSTNode) -> cst.CSTNode:  # type: ignore[override]
            return replacements.get(id(original), updated)

    result = tree.visit(_Replace())
    assert isinstance(result, cst.CSTNode)
    return result


def replace_names(tree: cst.CSTNode, old: str, new: cst.BaseExpression) -> cst.CSTNode:
    """``tree`` with every ``Name(old)`` (not attribute names) replaced by ``new``."""

    class _Rename(cst.CSTTransformer):
        def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.Attribute:
            return updated.with_changes(attr=original.attr)

        def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
            return updated.with_changes(keyword=original.keyword)

        def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
            return new if original.value == old else updated

    result = tree.visit(_Rename())
    assert isinstance(result, cst.CSTNode)
    return result


def mentions_name(node: cst.CSTNode, name: str) -> bool:
    return bool(m.findall(node, m.Name(name)))


def _lower_callee(call: cst.Call) -> str:
    return (callee_name(call) or "").lower()


def is_norm_call(expr: cst.CSTNode) -> bool:
    """``self.norm1(x)``, ``self.ln_2(x)``, ``F.layer_norm(x, ...)``: a normalization applied."""
    if not isinstance(expr, cst.Call) or not expr.args:
        return False
    name = _lower_callee(expr)
    return "norm" in name or name.startswith("ln")


def is_dropout_call(expr: cst.CSTNode) -> bool:
    """``self.dropout1(x)``, ``self.resid_drop(x)``, ``F.dropout(x, p, training)``."""
    return isinstance(expr, cst.Call) and bool(expr.args) and "drop" in _lower_callee(expr)


def first_arg_value(call: cst.Call) -> cst.BaseExpression:
    return call.args[0].value


def residual_update(small: cst.CSTNode) -> tuple[str, cst.BaseExpression] | None:
    """``(x, branch)`` of ``x = x + branch`` or ``x += branch``."""
    if isinstance(small, cst.AugAssign) and isinstance(small.operator, cst.AddAssign):
        if isinstance(small.target, cst.Name):
            return small.target.value, small.value
        return None
    if not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return None
    target = small.targets[0].target
    value = small.value
    if not isinstance(target, cst.Name) or not m.matches(value, m.BinaryOperation(operator=m.Add())):
        return None
    assert isinstance(value, cst.BinaryOperation)
    if m.matches(value.left, m.Name(target.value)):
        return target.value, value.right
    return None


def positional_args(call: cst.Call) -> list[cst.Arg]:
    return [a for a in call.args if a.keyword is None and not a.star]


def attention_mask_arg(call: cst.Call) -> cst.Arg | None:
    """The mask given to an attention call ``attn(q, k, v, mask)`` / ``attn(q, k, v, mask=...)``:
    a keyword whose name contains ``mask``, or a fourth positional argument named ``*mask*``."""
    positional = positional_args(call)
    if len(positional) < 3:
        return None
    for arg in call.args:
        if arg.keyword is not None and "mask" in arg.keyword.value.lower():
            return arg
    if len(positional) == 4 and isinstance(positional[3].value, cst.Name):
        if "mask" in positional[3].value.value.lower():
            return positional[3]
    return None


#: attribute names of the output projection of attention seen in real code
ATTENTION_OUTPUT_PROJECTIONS = ("out_proj", "o_proj", "proj_out", "w_o", "W_o", "wo", "c_proj", "to_out")


def output_projection_input(call: cst.Call) -> cst.Arg | None:
    """The one argument of ``self.out_proj(context)`` (or ``o_proj``, ``c_proj``, ...)."""
    func = call.func
    if not isinstance(func, cst.Attribute) or func.attr.value not in ATTENTION_OUTPUT_PROJECTIONS:
        return None
    if len(call.args) != 1 or call.args[0].keyword is not None or call.args[0].star:
        return None
    return call.args[0]


#: attribute names of the last projection of a sub-layer, whose output joins the residual stream
OUTPUT_PROJECTIONS = (
    "out_proj",
    "o_proj",
    "proj_out",
    "w_o",
    "W_o",
    "wo",
    "c_proj",
    "to_out",
    "proj",
    "down_proj",
    "fc2",
    "w2",
    "out",
)


def _projects_output(expr: cst.BaseExpression) -> bool:
    return (
        isinstance(expr, cst.Call)
        and isinstance(expr.func, cst.Attribute)
        and expr.func.attr.value in OUTPUT_PROJECTIONS
    )


def is_residual_dropout(context: SiteContext, call: cst.Call) -> bool:
    """A dropout on a sub-layer's output before it joins the residual stream:
    ``x + dropout(sublayer(x))``, ``resid_dropout(c_proj(y))``, ``proj_drop(x)`` right after
    ``x = self.proj(x)``, or a dropout module named for it (``resid_drop``, ``proj_drop``)."""
    if not is_dropout_call(call):
        return False
    name = (callee_name(call) or "").lower()
    if "resid" in name or "proj" in name:
        return True
    parent = context.parent
    original = context.node if context.node is not None else call
    if isinstance(parent, (cst.Assign, cst.AugAssign)):
        found = residual_update(parent)
        if found is not None and found[1] is original:
            return True
    if isinstance(parent, cst.BinaryOperation) and isinstance(parent.operator, cst.Add):
        grand = context.ancestors[1] if len(context.ancestors) > 1 else None
        if isinstance(grand, (cst.Assign, cst.AugAssign)) and residual_update(grand) is not None:
            return True
    value = first_arg_value(call)
    if _projects_output(value):
        return True
    source = context.value_of(value) if isinstance(value, cst.Name) else None
    return source is not None and _projects_output(source)


def stands_for_minus_infinity(context: SiteContext, expr: cst.BaseExpression) -> bool:
    """:func:`is_minus_infinity_fill`, also through a name: one assigned such a value
    (``mask_value = -torch.finfo(dtype).max``), or named for it (``max_neg_value``,
    ``neg_inf``), or a fraction of one (``mask_value // 2``)."""
    if is_minus_infinity_fill(expr):
        return True
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.FloorDivide, cst.Divide)):
        return stands_for_minus_infinity(context, expr.left)
    if isinstance(expr, (cst.Name, cst.Attribute)):
        value = context.value_of(expr)
        if value is not None:
            return is_minus_infinity_fill(value)
        name = (dotted_name(expr) or "").split(".")[-1].lower()
        return "neg" in name or "inf" in name or name in ("mask_value", "masked_value", "min_value")
    return False
