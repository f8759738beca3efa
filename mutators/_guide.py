"""Matchers shared by the mutators of the debugging guide's bug families (data, normalization,
optimization); private (the leading underscore keeps it out of discovery)."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from pytest_mlbugs.mutators._patterns import callee_name, statement_call

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


def move_into_loop(
    block: cst.IndentedBlock, index: int, loop_index: int, *, at_end: bool
) -> cst.IndentedBlock:
    """Move statement ``index`` of ``block`` into the body of the loop at ``loop_index``."""
    statement = block.body[index]
    loop = block.body[loop_index]
    assert isinstance(loop, (cst.For, cst.While)) and isinstance(loop.body, cst.IndentedBlock)
    inner = list(loop.body.body)
    inner = [*inner, statement] if at_end else [statement, *inner]
    moved = loop.with_changes(body=loop.body.with_changes(body=inner))
    body = [moved if i == loop_index else s for i, s in enumerate(block.body) if i != index]
    return block.with_changes(body=body)


def backward_loops(block: cst.IndentedBlock) -> list[int]:
    """Indices of the loops in ``block`` whose body calls ``.backward()``: micro-batch loops."""
    return [
        i
        for i, s in enumerate(block.body)
        if isinstance(s, (cst.For, cst.While))
        and isinstance(s.body, cst.IndentedBlock)
        and calls_method(s.body, "backward")
    ]
