"""Matchers shared by the mutators of the modern LLM stack: RMSNorm, rotary embeddings, grouped-query
attention with a cache, the Llama block and the language-model loss (private: not a mutator
module).

They recognise the spellings of Llama, GPT-NeoX, gpt-fast, litgpt and Hugging Face code: an upcast
is ``x.float()`` as much as ``x.to(torch.float32)``, a cache is ``past_kv`` as much as
``past_key_value`` or ``layer_past``.
"""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from ._patterns import argument, callee_name, code, dotted_name, int_literal

_FLOAT32 = ("torch.float32", "torch.float")
#: parameter and variable names of a key/value cache
CACHE_NAMES = (
    "past_kv",
    "past_key_value",
    "past_key_values",
    "layer_past",
    "kv_cache",
    "cache",
    "past",
)


def _is_float32(expr: cst.BaseExpression) -> bool:
    """``torch.float32``, ``torch.float``, or ``torch.promote_types(..., torch.float32)``."""
    if dotted_name(expr) in _FLOAT32:
        return True
    return (
        isinstance(expr, cst.Call)
        and callee_name(expr) == "promote_types"
        and any(dotted_name(a.value) in _FLOAT32 for a in expr.args)
    )


def upcast_receiver(call: cst.BaseExpression) -> cst.BaseExpression | None:
    """``x`` of the float32 upcast ``x.float()``, ``x.to(torch.float32)``, ``x.to(dtype=torch.float)``
    or ``x.to(torch.promote_types(x.dtype, torch.float32))``; ``None`` for anything else."""
    if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute):
        return None
    name = callee_name(call)
    if name == "float" and not call.args:
        return call.func.value
    if name in ("to", "type") and len(call.args) == 1:
        found = argument(call, keyword="dtype", position=0)
        if found is not None and _is_float32(found[1].value):
            return call.func.value
    return None


def is_input_dtype(expr: cst.BaseExpression) -> bool:
    """``x.dtype`` or a name such as ``dtype``, ``input_dtype``, ``orig_dtype``: where a result is
    cast back to."""
    if m.matches(expr, m.Attribute(value=m.Name(), attr=m.Name("dtype"))):
        return True
    return isinstance(expr, cst.Name) and expr.value.endswith("dtype")


def cast_back_receiver(call: cst.BaseExpression) -> cst.BaseExpression | None:
    """``y`` of ``y.to(x.dtype)``, ``y.to(dtype=input_dtype)`` or ``y.type_as(x)``: a result cast
    back to its input's dtype. A mask cast to a dtype is not one (that builds a float mask), nor
    is a parameter cast to the input's dtype (``self.weight.to(x.dtype)``)."""
    if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute):
        return None
    receiver = call.func.value
    if "mask" in code(receiver).lower():
        return None  # a mask made float: not a result
    state = (dotted_name(receiver) or "").lower()
    if state.startswith("self.") or state.endswith(("weight", "bias")):
        return None  # a parameter or buffer cast to the input's dtype: not a result
    name = callee_name(call)
    if name == "type_as" and len(call.args) == 1 and isinstance(call.args[0].value, cst.Name):
        return receiver
    if name == "to" and len(call.args) == 1:
        found = argument(call, keyword="dtype", position=0)
        if found is not None and is_input_dtype(found[1].value):
            return receiver
    return None


def is_cache_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in CACHE_NAMES or lowered.startswith(("past_", "cached_", "prev_")) or "cache" in lowered


def mentions_cache(expr: cst.CSTNode) -> bool:
    """Whether a name or attribute in ``expr`` names a cache (``past_kv[0]``, ``self.k_cache``)."""
    names = [n.value for n in m.findall(expr, m.Name()) if isinstance(n, cst.Name)]
    return any(is_cache_name(n) for n in names)


def is_rope_table(expr: cst.BaseExpression) -> bool:
    """``self.cos``, ``sin``, ``self.freqs_cis``, ``rope_cache``: a rotary table by its name."""
    text = (dotted_name(expr) or "").lower().split(".")[-1]
    return bool(text) and any(part in text for part in ("cos", "sin", "freq", "rope", "rotary"))


def slice_bounds(
    element: cst.SubscriptElement,
) -> tuple[cst.BaseExpression | None, cst.BaseExpression | None] | None:
    """``(lower, upper)`` of a step-less slice element ``a:b``; ``None`` for an index."""
    part = element.slice
    if not isinstance(part, cst.Slice) or part.step is not None:
        return None
    return part.lower, part.upper


def is_plus(expr: cst.BaseExpression | None, first: cst.BaseExpression) -> cst.BaseExpression | None:
    """``n`` of ``first + n`` or ``n + first`` (``first`` compared by its text)."""
    if not isinstance(expr, cst.BinaryOperation) or not isinstance(expr.operator, cst.Add):
        return None
    if code(expr.left) == code(first):
        return expr.right
    if code(expr.right) == code(first):
        return expr.left
    return None


def plus_one(expr: cst.BaseExpression) -> cst.BaseExpression:
    return cst.BinaryOperation(expr, cst.Add(), cst.Integer("1"))


def simple_value(statement: cst.CSTNode) -> tuple[cst.BaseExpression, cst.BaseExpression] | None:
    """``(target, value)`` of a one-target assignment line ``target = value``."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if isinstance(small, cst.Assign) and len(small.targets) == 1:
        return small.targets[0].target, small.value
    return None


def with_value(statement: cst.SimpleStatementLine, value: cst.BaseExpression) -> cst.SimpleStatementLine:
    small = statement.body[0]
    assert isinstance(small, cst.Assign)
    return statement.with_changes(body=[small.with_changes(value=value)])


def literal_axis(call: cst.Call, *, keyword: str = "dim", position: int = 1) -> tuple[int, int] | None:
    """``(index in call.args, value)`` of a literal axis argument."""
    found = argument(call, keyword=keyword, position=position)
    if found is None:
        return None
    value = int_literal(found[1].value)
    return None if value is None else (found[0], value)


def parameter_names(function: cst.FunctionDef) -> list[str]:
    params = function.params
    return [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]


def _plain(expr: cst.BaseExpression) -> bool:
    """A tensor by name (``x``, ``self.h``, ``hidden_states[0]``), not a difference such as
    ``x - mean`` (whose mean square is a variance or an error, not a root mean square)."""
    return isinstance(expr, (cst.Name, cst.Attribute, cst.Subscript)) or (
        isinstance(expr, cst.Call) and upcast_receiver(expr) is not None
    )


def squared_operand(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """``x`` of ``x.pow(2)``, ``x ** 2``, ``x.square()``, ``x * x``, ``torch.square(x)`` or
    ``torch.pow(x, 2)``, when ``x`` is a plain tensor."""
    found: cst.BaseExpression | None = None
    if isinstance(expr, cst.BinaryOperation):
        if isinstance(expr.operator, cst.Power) and int_literal(expr.right) == 2:
            found = expr.left
        elif isinstance(expr.operator, cst.Multiply) and code(expr.left) == code(expr.right):
            found = expr.left
    elif isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
        name = callee_name(expr)
        module_call = dotted_name(expr.func.value) == "torch"
        if module_call and name == "square" and len(expr.args) == 1:
            found = expr.args[0].value
        elif module_call and name == "pow" and len(expr.args) == 2 and int_literal(expr.args[1].value) == 2:
            found = expr.args[0].value
        elif not module_call and name == "square" and not expr.args:
            found = expr.func.value
        elif (
            not module_call and name == "pow" and len(expr.args) == 1 and int_literal(expr.args[0].value) == 2
        ):
            found = expr.func.value
    if found is None or not _plain(found.with_changes(lpar=[], rpar=[])):
        return None
    return found.with_changes(lpar=[], rpar=[])


def mean_of_squares(call: cst.Call) -> cst.Call | None:
    """For a mean of squares (``x.pow(2).mean(-1, keepdim=True)``, ``torch.mean(x * x, dim=d)``),
    the same mean call over ``x`` itself; ``None`` for any other call."""
    if callee_name(call) != "mean" or not isinstance(call.func, cst.Attribute):
        return None
    if dotted_name(call.func.value) == "torch":
        if not call.args or call.args[0].keyword is not None:
            return None
        operand = squared_operand(call.args[0].value)
        if operand is None:
            return None
        return call.with_changes(args=[call.args[0].with_changes(value=operand), *call.args[1:]])
    operand = squared_operand(call.func.value)
    if operand is None:
        return None
    return call.with_changes(func=call.func.with_changes(value=operand))


#: names under which positions are kept (``positions = torch.arange(...)``)
POSITION_NAMES = ("positions", "position", "position_ids", "pos", "t", "seq_idx", "seq", "cache_position")


def position_arange(statement: cst.CSTNode) -> tuple[cst.Call, list[cst.Arg]] | None:
    """The ``torch.arange`` call of a positions assignment (``t = torch.arange(n, ...).float()``)
    and its one or two positional bounds; ``None`` for anything else."""
    found = simple_value(statement)
    if found is None or not isinstance(found[0], cst.Name) or found[0].value not in POSITION_NAMES:
        return None
    calls = [
        c for c in m.findall(found[1], m.Call()) if isinstance(c, cst.Call) and callee_name(c) == "arange"
    ]
    if len(calls) != 1:
        return None
    (call,) = calls
    bounds = [a for a in call.args if a.keyword is None and not a.star]
    if not 1 <= len(bounds) <= 2 or len(bounds) != len([a for a in call.args if a.keyword is None]):
        return None
    return call, bounds


def table_slice(
    node: cst.Subscript,
) -> tuple[int, cst.BaseExpression | None, cst.BaseExpression | None] | None:
    """``(element index, lower, upper)`` of the one non-trivial slice of a rotary table
    (``self.cos[start_pos : start_pos + T]``, ``cos_cached[:, :, :seq_len]``)."""
    if not is_rope_table(node.value):
        return None
    ranged = []
    for index, element in enumerate(node.slice):
        bounds = slice_bounds(element)
        if bounds is None:
            if not m.matches(element.slice, m.Index(value=m.Ellipsis())):
                return None
            continue
        if bounds != (None, None):
            ranged.append((index, *bounds))
    return ranged[0] if len(ranged) == 1 else None


def with_slice(
    node: cst.Subscript, index: int, lower: cst.BaseExpression | None, upper: cst.BaseExpression | None
) -> cst.Subscript:
    elements = list(node.slice)
    part = elements[index].slice
    assert isinstance(part, cst.Slice)
    changes: dict[str, object] = {"lower": lower, "upper": upper}
    if lower is None:
        changes["first_colon"] = cst.Colon()  # ``[:n]``, not ``[ : n]``
    elements[index] = elements[index].with_changes(slice=part.with_changes(**changes))
    return node.with_changes(slice=elements)


def with_bounds(statement: cst.CSTNode, call: cst.Call, bounds: Sequence[cst.BaseExpression]) -> cst.CSTNode:
    """``statement`` with the positional bounds of its ``arange`` call replaced."""
    keywords = [a for a in call.args if a.keyword is not None]
    new_call = call.with_changes(args=[*(cst.Arg(b) for b in bounds), *keywords])
    found = simple_value(statement)
    assert found is not None and isinstance(statement, cst.SimpleStatementLine)
    value = found[1]
    replaced = new_call if value is call else value.deep_replace(call, new_call)
    assert isinstance(replaced, cst.BaseExpression)
    return with_value(statement, replaced)


#: constructors of a fresh tensor: ``torch.zeros(seq_len, past_len)`` mentions the past but
#: holds none of it (the zero block of a causal mask over cached positions)
_CONSTRUCTORS = (
    "zeros",
    "ones",
    "full",
    "empty",
    "zeros_like",
    "ones_like",
    "full_like",
    "empty_like",
    "arange",
)


def is_fresh_tensor(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Call) and callee_name(expr) in _CONSTRUCTORS


def cached_concatenation(call: cst.Call) -> tuple[int, int] | None:
    """For ``torch.cat([past_k, k], dim=d)`` (the cache first, a new tensor second), the index of
    the axis argument in ``call.args`` and its value; ``None`` for any other call."""
    if callee_name(call) != "cat" or not call.args:
        return None
    pair = call.args[0].value
    if not isinstance(pair, (cst.List, cst.Tuple)) or len(pair.elements) != 2:
        return None
    first, second = (element.value for element in pair.elements)
    if not mentions_cache(first) or mentions_cache(second) or is_fresh_tensor(first):
        return None
    return literal_axis(call)
