"""Matchers shared by the training-loop mutators (training, grad_clip, evaluation); private
(the leading underscore keeps it out of discovery)."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from ._patterns import callee_name, statement_call

Block = cst.IndentedBlock


def method_name(statement: cst.BaseStatement, *, assigned: bool = False) -> str | None:
    """``zero_grad`` for the statement ``optimizer.zero_grad()``; with ``assigned``, also for
    ``norm = torch.nn.utils.clip_grad_norm_(...)``. ``None`` for anything else."""
    call = statement_call(statement)
    if call is None and assigned:
        call = assigned_call(statement)
    return None if call is None else callee_name(call)


def assigned_call(statement: cst.BaseStatement) -> cst.Call | None:
    """The call of ``name = f(...)``."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    if isinstance(small, cst.Assign) and isinstance(small.value, cst.Call):
        return small.value
    return None


def is_optimizer_step(statement: cst.BaseStatement) -> bool:
    """``optimizer.step()`` (no arguments, on something that is not a learning-rate scheduler),
    or ``scaler.step(optimizer)``, the GradScaler's step of the optimizer."""
    call = statement_call(statement)
    if call is None or callee_name(call) != "step" or not isinstance(call.func, cst.Attribute):
        return False
    receiver = cst.Module(body=[]).code_for_node(call.func.value).lower()
    if "sched" in receiver:
        return False
    return not call.args or ("scaler" in receiver and len(call.args) == 1)


def indices(block: Block, predicate: object) -> list[int]:
    return [i for i, statement in enumerate(block.body) if predicate(statement)]  # type: ignore[operator]


def moved(block: Block, source: int, target: int) -> Block:
    """``block`` with statement ``source`` moved so that it ends up right after statement
    ``target`` (``target`` = -1: first)."""
    body = list(block.body)
    statement = body[source]
    order = [s for i, s in enumerate(body) if i != source]
    position = target if target < source else target - 1
    order.insert(position + 1, statement)
    return block.with_changes(body=order)


def without(block: Block, index: int) -> Sequence[Block]:
    """``block`` less statement ``index``; nothing when that would leave the block empty."""
    if len(block.body) < 2:
        return ()
    return (block.with_changes(body=[s for i, s in enumerate(block.body) if i != index]),)


def names_in(node: cst.CSTNode) -> set[str]:
    return {n.value for n in m.findall(node, m.Name()) if isinstance(n, cst.Name)}


def is_batch_size(expr: cst.BaseExpression) -> bool:
    """A batch's size as loops write it: ``n``, ``targets.size(0)``, ``x.shape[0]``, ``len(batch)``."""
    return m.matches(
        expr,
        m.Name()
        | m.Call(func=m.Attribute(attr=m.Name("size")), args=[m.Arg(value=m.Integer("0"))])
        | m.Subscript(
            value=m.Attribute(attr=m.Name("shape")), slice=[m.SubscriptElement(m.Index(m.Integer("0")))]
        )
        | m.Call(func=m.Name("len"), args=[m.Arg(keyword=None)]),
    )
