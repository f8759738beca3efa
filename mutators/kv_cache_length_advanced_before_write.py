from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import callee_name, single_assignment, statement_call
from ._state import assigned_attribute, mentions, moved, subscript_assignment_target


class KvCacheLengthAdvancedBeforeWrite(Mutator):
    """The cache length is advanced before the new keys and values are written.

    When the write slice reads ``self.current_length`` (``k_cache[:, :, self.current_length:
    end] = k``), updating the length first moves the write ``T_new`` positions too far: the
    slots of the new tokens stay stale (zeros on the first call) and the next positions are
    overwritten early. Shapes are all fine, the first token of every chunk is garbage. A site
    is an assignment ``self.x = ...`` (or ``self.x += ...``) placed after a write
    ``self.buf[...] = ...`` (or ``self.buf[...].copy_(...)``) whose index reads ``self.x`` in
    the same block, directly or through a local read from it (``start = self.x``): the
    assignment moves before that read. A write whose slice would then be empty
    (``self.x : end`` with ``end`` computed from ``self.x``) only crashes and is no site.
    """

    bug_id = "kv_cache_length_advanced_before_write"
    components = ("kv_cache",)
    category = Category.STATE_DEVICE
    layer = Layer.SHAPES
    description = "advance current_length before writing the new keys/values (they land too far)"
    symptom = "generation degrades after the prompt: cached keys are stale or zero at the new positions"
    hint = "compare the keys returned by the cache with the concatenation of the keys written"
    fix = "write k_cache[:B, :, start:end] first, then set current_length = end"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "def f(self, k):\n    self.k[:, self.n : self.n + t] = k\n    self.n = self.n + t\n",
            "def f(self, k):\n    self.n = self.n + t\n    self.k[:, self.n : self.n + t] = k\n",
        ),
        Example(
            "def f(self, k):\n"
            "    start = self.seen\n"
            "    self.k_cache[:, :, start : start + t] = k\n"
            "    self.seen += t\n",
            "def f(self, k):\n"
            "    self.seen += t\n"
            "    start = self.seen\n"
            "    self.k_cache[:, :, start : start + t] = k\n",
        ),
        Example(
            "def f(self, k):\n    self.cache_k[:, self.pos : self.pos + t].copy_(k)\n    self.pos += t\n",
            "def f(self, k):\n    self.pos += t\n    self.cache_k[:, self.pos : self.pos + t].copy_(k)\n",
        ),
    )
    UNCHANGED = (
        "def f(self, k):\n    start = self.n\n    self.n = end\n    self.k[:, start:end] = k\n",
        "def f(self, k):\n    self.k[:, start:end] = k\n    self.n = end\n",
        # advanced first, the write slice self.n:end would be empty: a crash, not this bug
        "def f(self, k):\n    end = self.n + t\n    self.k[:, self.n : end] = k\n    self.n = end\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        statements = list(node.body)
        found = []
        for i, statement in enumerate(statements):
            name = assigned_attribute(statement)
            if name is None:
                continue
            destination = _first_read(statements[:i], name)
            if destination is None or _needs_later_names(statement, statements[destination:i]):
                continue
            found.append(node.with_changes(body=moved(statements, i, destination)))
        return found


def _write_indices(statement: cst.BaseStatement) -> list[cst.CSTNode]:
    """The index parts of a write into an attribute's items: ``self.buf[i] = v`` and
    ``self.buf[i].copy_(v)``."""
    target = subscript_assignment_target(statement)
    if target is not None:
        return list(target.slice)
    call = statement_call(statement)
    if (
        call is not None
        and callee_name(call) == "copy_"
        and isinstance(call.func, cst.Attribute)
        and isinstance(call.func.value, cst.Subscript)
        and isinstance(call.func.value.value, cst.Attribute)
    ):
        return list(call.func.value.slice)
    return []


def _first_read(before: Sequence[cst.BaseStatement], name: str) -> int | None:
    """Where the position ``name`` is first read for a write: the write itself, or the
    assignment of a local (``start = self.pos``) that a later write indexes with."""
    aliases: dict[str, int] = {}
    for j, statement in enumerate(before):
        for part in _write_indices(statement):
            if mentions(part, name):
                return None if _empty_once_advanced(part, name, before[:j]) else j
            for alias, where in aliases.items():
                if mentions(part, alias):
                    return where
        single = single_assignment(statement)
        if single is not None and mentions(single[1], name):
            aliases[single[0]] = j
    return None


def _empty_once_advanced(part: cst.CSTNode, name: str, before: Sequence[cst.BaseStatement]) -> bool:
    """``self.n : end`` with ``end`` computed from ``self.n`` earlier: with the position
    advanced to ``end`` first, the write slice is empty and the write fails at once."""
    if not isinstance(part, cst.SubscriptElement) or not isinstance(part.slice, cst.Slice):
        return False
    upper = part.slice.upper
    if not isinstance(upper, cst.Name):
        return False
    for statement in before:
        single = single_assignment(statement)
        if single is not None and single[0] == upper.value and mentions(single[1], name):
            return True
    return False


def _needs_later_names(advance: cst.BaseStatement, between: Sequence[cst.BaseStatement]) -> bool:
    """Whether the advance reads a local assigned in ``between``: moved above it, it would
    read the name before it exists."""
    assigned = {single[0] for s in between if (single := single_assignment(s)) is not None}
    return any(mentions(advance, local) for local in assigned)
