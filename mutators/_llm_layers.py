"""Matchers of the modern LLM stack's layers: attention scores and their scaling, activations,
the next-token shift of a language-model loss, the statistics of an RMS norm, a cache parameter.

Companion of :mod:`._llm` (dtypes, caches, positions); split only to keep each module short.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import libcst as cst
import libcst.matchers as m

from ._llm import CACHE_NAMES, mean_of_squares, parameter_names, slice_bounds
from ._patterns import callee_name, code, dotted_name, int_literal


def _matmul_query(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """``q`` of attention scores ``q @ k.T``, ``torch.matmul(q, k)`` or ``torch.bmm(q, k)``."""
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.MatrixMultiply):
        query = expr.left
    elif isinstance(expr, cst.Call) and callee_name(expr) in ("matmul", "bmm") and len(expr.args) == 2:
        query = expr.args[0].value
    else:
        return None
    return query if isinstance(query, (cst.Name, cst.Attribute)) else None


def _root_argument(expr: cst.BaseExpression, power: str) -> cst.BaseExpression | None:
    """``d`` of ``math.sqrt(d)`` / ``sqrt(d)`` (for ``power="0.5"``) or of ``d ** power``."""
    if power == "0.5" and isinstance(expr, cst.Call) and callee_name(expr) == "sqrt" and len(expr.args) == 1:
        if dotted_name(expr.func) in ("math.sqrt", "sqrt", "np.sqrt", "numpy.sqrt"):
            return expr.args[0].value
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Power):
        exponent = expr.right
        if power.startswith("-"):
            if m.matches(exponent, m.UnaryOperation(operator=m.Minus(), expression=m.Float(power[1:]))):
                return expr.left
        elif m.matches(exponent, m.Float(power)):
            return expr.left
    return None


def _with_root_argument(expr: cst.BaseExpression, value: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(expr, cst.Call):
        return expr.with_changes(args=[expr.args[0].with_changes(value=value)])
    assert isinstance(expr, cst.BinaryOperation)
    if isinstance(value, cst.BinaryOperation):
        value = value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return expr.with_changes(left=value)


def scaled_scores(
    node: cst.BinaryOperation,
) -> (
    tuple[cst.BaseExpression, cst.BaseExpression, Callable[[cst.BaseExpression], cst.BinaryOperation]] | None
):
    """For attention scores divided by a square root (``q @ k.T / math.sqrt(d)``,
    ``torch.matmul(q, k) * d ** -0.5``, ``(q @ k.T) * (1.0 / math.sqrt(k.size(-1)))``): the query
    tensor, the rooted size ``d``, and a function that rebuilds ``node`` with another size."""
    scores = (
        node.left.with_changes(lpar=[], rpar=[]) if isinstance(node.left, cst.BinaryOperation) else node.left
    )
    query = _matmul_query(scores)
    if query is None:
        return None
    factor = node.right
    if isinstance(node.operator, cst.Divide):
        size = _root_argument(factor, "0.5")
        if size is None:
            return None
        return query, size, lambda value: node.with_changes(right=_with_root_argument(factor, value))
    if not isinstance(node.operator, cst.Multiply):
        return None
    size = _root_argument(factor, "-0.5")
    if size is not None:
        return query, size, lambda value: node.with_changes(right=_with_root_argument(factor, value))
    inverse = m.BinaryOperation(left=m.Float() | m.Integer(), operator=m.Divide())
    if m.matches(factor, inverse):
        assert isinstance(factor, cst.BinaryOperation)
        root = factor.right
        size = _root_argument(root, "0.5")
        if size is not None:
            return (
                query,
                size,
                lambda value: node.with_changes(
                    right=factor.with_changes(right=_with_root_argument(root, value))
                ),
            )
    return None


def size_call(tensor: cst.BaseExpression, axis: int) -> cst.Call:
    """``tensor.size(axis)``."""
    return cst.Call(
        func=cst.Attribute(value=tensor, attr=cst.Name("size")),
        args=[
            cst.Arg(
                cst.UnaryOperation(cst.Minus(), cst.Integer(str(-axis)))
                if axis < 0
                else cst.Integer(str(axis))
            )
        ],
    )


def cache_parameter(function: cst.FunctionDef) -> str | None:
    """The name of the function's key/value cache parameter (``past_kv``, ``layer_past``...)."""
    for name in parameter_names(function):
        if name.lower() in CACHE_NAMES or name.lower().startswith("past_"):
            return name
    return None


_FUNCTIONAL = ("F", "nn.functional", "torch.nn.functional", "functional")
_MODULE_PREFIXES = ("nn", "torch.nn")


def renamed_activation(call: cst.Call, renames: dict[str, str]) -> cst.Call | None:
    """``call`` with its activation renamed by ``renames``: ``F.silu(x)`` -> ``F.gelu(x)``,
    ``nn.SiLU()`` -> ``nn.GELU()``; only the input is kept (``inplace``, ``approximate`` are not
    arguments of every activation). ``None`` when ``call`` is no such activation."""
    func = call.func
    if not isinstance(func, cst.Attribute) or func.attr.value not in renames:
        return None
    owner = dotted_name(func.value)
    renamed = func.with_changes(attr=cst.Name(renames[func.attr.value]))
    if func.attr.value[0].isupper():
        if owner not in _MODULE_PREFIXES:
            return None
        return call.with_changes(func=renamed, args=[])
    if owner not in _FUNCTIONAL or not call.args or call.args[0].keyword is not None:
        return None
    return call.with_changes(func=renamed, args=[call.args[0].with_changes(comma=cst.MaybeSentinel.DEFAULT)])


def _only_slice(node: cst.Subscript, lower: int | None, upper: int | None) -> bool:
    """``x[:, :-1]``, ``x[..., 1:]``, ``x[:, :-1, :]``: one element sliced ``lower:upper`` (literal
    bounds), every other ``:`` or ``...``."""
    sliced = 0
    for element in node.slice:
        bounds = slice_bounds(element)
        if bounds is None:
            if not m.matches(element.slice, m.Index(value=m.Ellipsis())):
                return False
            continue
        if bounds == (None, None):
            continue
        low, high = (None if b is None else int_literal(b) for b in bounds)
        if (low, high) != (lower, upper) or any(b is not None and int_literal(b) is None for b in bounds):
            return False
        sliced += 1
    return sliced == 1 and isinstance(node.value, (cst.Name, cst.Attribute))


def next_token_shift(block: cst.IndentedBlock) -> tuple[cst.Subscript, cst.Subscript] | None:
    """The two slices of a next-token shift among the statements of ``block``: the predictions
    ``logits[:, :-1]`` and the targets ``labels[:, 1:]`` (one of each, any order)."""
    lines = [s for s in block.body if isinstance(s, cst.SimpleStatementLine)]
    subscripts = [s for line in lines for s in m.findall(line, m.Subscript()) if isinstance(s, cst.Subscript)]
    drop_last = [s for s in subscripts if _only_slice(s, None, -1)]
    drop_first = [s for s in subscripts if _only_slice(s, 1, None)]
    if len(drop_last) != 1 or len(drop_first) != 1:
        return None
    pair = {id(drop_last[0]), id(drop_first[0])}
    for line in lines:
        for operation in m.findall(line, m.BinaryOperation()):
            assert isinstance(operation, cst.BinaryOperation)
            if {id(operation.left), id(operation.right)} == pair:
                return None  # a difference of neighbours (x[:, 1:] - x[:, :-1]), not a shift
    return drop_last[0], drop_first[0]


def with_sliced(node: cst.Subscript, lower: int | None, upper: int | None) -> cst.Subscript:
    """``node`` with its one sliced element changed to ``lower:upper``."""
    elements = list(node.slice)
    for index, element in enumerate(elements):
        bounds = slice_bounds(element)
        if bounds is not None and bounds != (None, None):
            part = element.slice
            assert isinstance(part, cst.Slice)
            elements[index] = element.with_changes(
                slice=part.with_changes(
                    lower=None if lower is None else cst.Integer(str(lower)),
                    upper=None
                    if upper is None
                    else cst.UnaryOperation(cst.Minus(), cst.Integer(str(-upper))),
                )
            )
    return node.with_changes(slice=elements)


def root_mean_square_statistics(statement: cst.CSTNode) -> list[tuple[cst.Call, cst.Call]]:
    """The means of squares of a statement that are a root-mean-square statistic, each with the
    same mean over the tensor itself; a mean of squares minus something (``E[x^2] - E[x]^2``, a
    variance) is left out."""
    if not isinstance(statement, cst.SimpleStatementLine):
        return []
    subtracted = set()
    for operation in m.findall(statement, m.BinaryOperation(operator=m.Subtract())):
        assert isinstance(operation, cst.BinaryOperation)
        subtracted.update({id(operation.left), id(operation.right)})
    found = []
    for call in m.findall(statement, m.Call(func=m.Attribute(attr=m.Name("mean")))):
        assert isinstance(call, cst.Call)
        plain_mean = mean_of_squares(call)
        if plain_mean is not None and id(call) not in subtracted:
            found.append((call, plain_mean))
    return found


def without_argument(call: cst.Call, index: int) -> cst.Call:
    """``call`` less its argument ``index``; a new last argument takes the removed one's comma,
    so a call spread over lines keeps its layout."""
    args = list(call.args)
    removed = args.pop(index)
    if args and index == len(args):
        args[-1] = args[-1].with_changes(comma=removed.comma)
    return call.with_changes(args=args)


def rescaled_scores(
    node: cst.CSTNode, wrong_size: Callable[[cst.BaseExpression], cst.BaseExpression]
) -> Sequence[cst.BinaryOperation]:
    """Attention scores ``node`` scaled by the root of ``wrong_size(query)`` instead of their own
    size; nothing where ``node`` is no scaled scores or already uses that size."""
    assert isinstance(node, cst.BinaryOperation)
    found = scaled_scores(node)
    if found is None:
        return ()
    query, size, rebuild = found
    wrong = wrong_size(query)
    return () if code(size) == code(wrong) else (rebuild(wrong),)
