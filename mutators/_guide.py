"""Matchers shared by the mutators of the debugging guide's bug families (data, normalization,
optimization); private (the leading underscore keeps it out of discovery)."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m

from ._loops import is_optimizer_step
from ._patterns import callee_name, code, statement_call

#: module aliases under which torch's reductions are called as functions
TORCH_MODULES = ("torch",)


def statement_method(statement: cst.BaseStatement) -> str | None:
    """``zero_grad`` for the statement ``optimizer.zero_grad()``; ``None`` for anything else."""
    call = statement_call(statement)
    if call is None or not isinstance(call.func, cst.Attribute):
        return None
    return callee_name(call)


def calls_method(node: cst.CSTNode, name: str) -> bool:
    """True when ``x.name(...)`` is called anywhere inside ``node``."""
    return bool(m.findall(node, m.Call(func=m.Attribute(attr=m.Name(name)))))


def without_statement(block: cst.IndentedBlock, index: int) -> cst.IndentedBlock:
    """``block`` less its statement ``index``; a block left empty holds ``pass``."""
    body = [s for i, s in enumerate(block.body) if i != index]
    if not body:
        body = [cst.SimpleStatementLine(body=[cst.Pass()])]
    return block.with_changes(body=body)


def moved_into_micro_batch_loop(block: cst.IndentedBlock, method: str) -> list[cst.IndentedBlock]:
    """Every way to move a ``x.method()`` statement of ``block`` into a micro-batch loop.

    A statement before such a loop moves to the start of the next loop's body (``zero_grad``
    at every micro-batch); one after it moves to the end of the previous loop's body (a
    ``step`` after every micro-batch). A micro-batch loop is a loop whose body calls
    ``.backward()``.
    """
    loops = [
        i
        for i, s in enumerate(block.body)
        if isinstance(s, (cst.For, cst.While))
        and isinstance(s.body, cst.IndentedBlock)
        and calls_method(s.body, "backward")
    ]
    variants = []
    for index, statement in enumerate(block.body):
        if statement_method(statement) != method:
            continue
        if method == "step" and (not is_optimizer_step(statement) or "scaler" in code(statement).lower()):
            # a scheduler's step is not the optimizer's; a GradScaler's step needs its update()
            # before the next one, or it raises: it moves with the update or not at all
            continue
        before = [loop for loop in loops if loop < index]
        after = [loop for loop in loops if loop > index]
        if after:
            variants.append(_move_into_loop(block, index, after[0], at_end=False))
        elif before:
            variants.append(_move_into_loop(block, index, before[-1], at_end=True))
    return variants


def _move_into_loop(
    block: cst.IndentedBlock, index: int, loop_index: int, *, at_end: bool
) -> cst.IndentedBlock:
    statement = block.body[index]
    loop = block.body[loop_index]
    assert isinstance(loop, (cst.For, cst.While)) and isinstance(loop.body, cst.IndentedBlock)
    inner = [*loop.body.body, statement] if at_end else [statement, *loop.body.body]
    moved = loop.with_changes(body=loop.body.with_changes(body=inner))
    body = [moved if i == loop_index else s for i, s in enumerate(block.body) if i != index]
    return block.with_changes(body=body)
