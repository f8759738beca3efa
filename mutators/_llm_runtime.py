"""Matchers shared by the mutators of the LLM-stack contracts 19-24 (sampling, generation,
schedules, mixed precision, checkpoints, batching); private (the leading underscore keeps it out
of discovery).

Names decide a lot here, as they do for a reader: a divisor is a temperature when it is called
``temperature`` (or ``temp``, ``tau``), a bound is the warmup when its name says ``warmup``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.mutation import Replacement

from ._attention import calls_in, replace_node
from ._numerics import atom, code
from ._patterns import callee_name, statement_call


def name_words(expr: cst.CSTNode) -> list[str]:
    """The lower-cased names and attribute names inside ``expr`` (``self.temperature`` gives
    ``self`` and ``temperature``)."""
    found: list[str] = []
    for node in m.findall(expr, m.Name()):
        assert isinstance(node, cst.Name)
        found.append(node.value.lower())
    return found


def last_name(expr: cst.CSTNode) -> str | None:
    """``temperature`` for ``temperature`` and for ``self.temperature``; ``None`` otherwise."""
    if isinstance(expr, cst.Name):
        return expr.value.lower()
    if isinstance(expr, cst.Attribute):
        return expr.attr.value.lower()
    return None


def named(expr: cst.CSTNode, *words: str) -> bool:
    """Whether ``expr`` is a name or attribute whose own name contains one of ``words``."""
    name = last_name(expr)
    return name is not None and any(word in name for word in words)


def mentions_word(expr: cst.CSTNode, *words: str) -> bool:
    """Whether some name inside ``expr`` contains one of ``words``."""
    return any(word in name for name in name_words(expr) for word in words)


def is_temperature(expr: cst.BaseExpression) -> bool:
    """``temperature``, ``self.temperature``, ``temp``, ``tau``, or ``max(temperature, 1e-5)``."""
    if isinstance(expr, cst.Call) and callee_name(expr) in ("max", "clamp", "clip"):
        return any(is_temperature(arg.value) for arg in expr.args)
    name = last_name(expr)
    return name is not None and ("temperature" in name or name in ("temp", "tau"))


def is_literal_one(expr: cst.BaseExpression) -> bool:
    return m.matches(expr, m.Integer("1") | m.Float("1.0"))


def plus_one_operand(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """``x`` of ``x + 1`` (parentheses or not); ``None`` for anything else."""
    if m.matches(expr, m.BinaryOperation(operator=m.Add())):
        assert isinstance(expr, cst.BinaryOperation)
        if is_literal_one(expr.right):
            return expr.left
    return None


def subtraction_of(
    expr: cst.CSTNode, right: Callable[[cst.BaseExpression], bool]
) -> Iterator[cst.BinaryOperation]:
    """Every ``a - b`` inside ``expr`` (itself included) whose ``b`` satisfies ``right``."""
    for node in m.findall(expr, m.BinaryOperation(operator=m.Subtract())):
        assert isinstance(node, cst.BinaryOperation)
        if right(node.right):
            yield node


def without_parens(expr: cst.BaseExpression) -> cst.BaseExpression:
    return expr.with_changes(lpar=[], rpar=[])


def method_call_on(statement: cst.BaseStatement, method: str, *words: str) -> cst.Call | None:
    """The call of the statement ``x.method(...)`` where ``x``'s own name contains one of
    ``words`` (``scaler.update()``, ``self.lr_scheduler.step()``); ``None`` otherwise."""
    call = statement_call(statement)
    if call is None or not isinstance(call.func, cst.Attribute) or call.func.attr.value != method:
        return None
    return call if named(call.func.value, *words) else None


def calls_named(node: cst.CSTNode, *names: str) -> list[cst.Call]:
    """Every call inside ``node`` whose callee's last name is one of ``names``."""
    return [call for call in calls_in(node) if callee_name(call) in names]


def statement_calls(statement: cst.BaseStatement) -> list[cst.Call]:
    """The calls of a simple statement line (an expression, an assignment, a return)."""
    if not isinstance(statement, cst.SimpleStatementLine):
        return []
    return list(calls_in(statement))


def same_code(a: cst.CSTNode, b: cst.CSTNode) -> bool:
    return code(without_parens(a) if isinstance(a, cst.BaseExpression) else a) == code(
        without_parens(b) if isinstance(b, cst.BaseExpression) else b
    )


def is_literal(expr: cst.BaseExpression, *values: str) -> bool:
    """``expr`` is one of the literals ``values`` as written (``"-100"``, ``"False"``, ``"0"``)."""
    return code(without_parens(expr)) in values


#: keywords under which a language model takes its cache
CACHE_KEYWORDS = ("past_kv", "past_key_values", "past", "cache", "kv_cache", "layer_past", "past_key_value")


def cache_arg(call: cst.Call) -> tuple[int, cst.Arg] | None:
    """The cache argument of a model call: a cache keyword, or a second positional argument
    whose name says ``past`` or ``cache``."""
    for i, arg in enumerate(call.args):
        if arg.keyword is not None and arg.keyword.value in CACHE_KEYWORDS:
            return i, arg
    positional = [(i, a) for i, a in enumerate(call.args) if a.keyword is None and not a.star]
    if len(positional) == 2 and named(positional[1][1].value, "past", "cache"):
        return positional[1]
    return None


def model_call_with_cache(statement: cst.BaseStatement) -> cst.Call | None:
    """The call of ``logits, past = model(x, past_kv=past)`` (or ``out = model(...)``): a call
    with a cache argument and an input as its first positional argument."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if not isinstance(small, (cst.Assign, cst.Expr)) or not isinstance(small.value, cst.Call):
        return None
    call = small.value
    if cache_arg(call) is None or not call.args or call.args[0].keyword is not None:
        return None
    return call


def is_loop(statement: cst.BaseStatement) -> bool:
    return isinstance(statement, (cst.For, cst.While))


def method_call(receiver: cst.BaseExpression, template: str) -> cst.Call:
    """``receiver.<template>``: ``method_call(x, "softmax(dim=-1)")`` is ``x.softmax(dim=-1)``
    (with ``x`` parenthesized where it needs to be)."""
    call = cst.parse_expression(f"_.{template}")
    assert isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
    return call.with_changes(func=call.func.with_changes(value=atom(receiver)))


def is_step_counter(expr: cst.CSTNode) -> bool:
    """``step``, ``current_step``, ``it``, ``iter_num``, ``epoch``: a training-step counter."""
    name = last_name(expr)
    return name is not None and (
        name in ("it", "i", "t") or any(w in name for w in ("step", "iter", "epoch"))
    )


#: calls that clip gradients in place
CLIP_CALLS = ("clip_grad_norm_", "clip_grad_value_", "clip_grad_norm", "clip_gradients", "clip_grad")


def is_clip(statement: cst.BaseStatement) -> bool:
    """A statement that clips gradients: ``clip_grad_norm_(...)``, or ``norm = clip_grad_norm_(...)``."""
    return any(callee_name(call) in CLIP_CALLS for call in statement_calls(statement))


def is_unscale(statement: cst.BaseStatement) -> bool:
    """``scaler.unscale_(optimizer)``."""
    return method_call_on(statement, "unscale_", "scaler") is not None


def restores_state_of(statement: cst.BaseStatement, *words: str) -> bool:
    """``optimizer.load_state_dict(...)`` where the receiver's name contains one of ``words``."""
    return method_call_on(statement, "load_state_dict", *words) is not None


def is_ignore_label(expr: cst.BaseExpression) -> bool:
    """``-100`` or a name such as ``IGNORE_INDEX`` / ``self.label_pad_token_id`` standing for it."""
    if is_literal(expr, "-100"):
        return True
    name = last_name(expr)
    return name is not None and ("ignore" in name or name == "label_pad_token_id")


def is_pad_id(expr: cst.BaseExpression) -> bool:
    """``pad_token_id``, ``self.pad_id``, ``padding_value``, ``tokenizer.pad_token_id``."""
    name = last_name(expr)
    return name is not None and "pad" in name and ("id" in name or "value" in name or "token" in name)


#: what seeds a random generator
SEEDING_CALLS = ("manual_seed", "seed", "RandomState", "default_rng")


def seeding_argument(call: cst.Call) -> cst.BaseExpression | None:
    """The seed of ``g.manual_seed(seed + epoch)``, ``np.random.RandomState(...)`` and the like."""
    if callee_name(call) not in SEEDING_CALLS or len(call.args) != 1 or call.args[0].keyword is not None:
        return None
    return call.args[0].value


def is_rank(expr: cst.CSTNode) -> bool:
    """``rank``, ``self.rank``, ``global_rank``, ``local_rank``."""
    name = last_name(expr)
    return name is not None and name.endswith("rank")


def single_assign(
    statement: cst.BaseStatement,
) -> tuple[cst.BaseAssignTargetExpression, cst.BaseExpression] | None:
    """``(target, value)`` of a statement line ``target = value`` with one target (a name, an
    attribute or a subscript); ``None`` for anything else."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return None
    return small.targets[0].target, small.value


def guarded(statement: cst.BaseStatement) -> cst.BaseSmallStatement | None:
    """The one small statement of ``if <condition>: <statement>`` (no ``else``, nothing else
    in the body): ``break`` of ``if done: break``, ``return x`` of ``if late: return x``."""
    if not isinstance(statement, cst.If) or statement.orelse is not None:
        return None
    body = statement.body
    if not isinstance(body, cst.IndentedBlock) or len(body.body) != 1:
        return None
    only = body.body[0]
    if not isinstance(only, cst.SimpleStatementLine) or len(only.body) != 1:
        return None
    return only.body[0]


def without_difference_side(
    node: cst.BinaryOperation,
    within: cst.BaseExpression,
    subtrahend: Callable[[cst.BaseExpression], bool],
    minuend: Callable[[cst.BaseExpression], bool],
) -> list[cst.CSTNode]:
    """``node`` with one ``a - b`` inside ``within`` (one replacement per such difference whose
    ``b`` satisfies ``subtrahend`` and ``a`` satisfies ``minuend``) replaced by ``a``."""
    return [
        replace_node(node, difference, difference.left.with_changes(lpar=[], rpar=[]))
        for difference in subtraction_of(within, subtrahend)
        if minuend(difference.left)
    ]


def is_attention_scores(expr: cst.BaseExpression) -> bool:
    """``q @ k.transpose(-2, -1)`` or ``torch.matmul(q, k)``: attention scores, whose scaling
    (sometimes called a temperature) belongs to the attention mutators, not to sampling."""
    if m.findall(expr, m.BinaryOperation(operator=m.MatrixMultiply())):
        return True
    return bool(calls_named(expr, "matmul", "bmm", "einsum", "baddbmm"))


def divides_by_temperature(node: cst.BinaryOperation) -> bool:
    """``logits / temperature`` (not attention scores over a temperature, not a number)."""
    return (
        isinstance(node.operator, cst.Divide)
        and is_temperature(node.right)
        and not isinstance(node.left, (cst.Integer, cst.Float))
        and not is_attention_scores(node.left)
    )


def removed_if(
    statement: cst.CSTNode, predicate: Callable[[cst.BaseStatement], bool]
) -> tuple[Replacement, ...]:
    """The statement removed when ``predicate`` holds: a site of that one statement (libcst
    leaves ``pass`` where it was the only statement of its block)."""
    assert isinstance(statement, cst.BaseStatement)
    return (cst.RemovalSentinel.REMOVE,) if predicate(statement) else ()
