from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._state import assigned_attribute, mentions, moved, subscript_assignment_target


class KvCacheLengthAdvancedBeforeWrite(Mutator):
    """The cache length is advanced before the new keys and values are written.

    When the write slice reads ``self.current_length`` (``k_cache[:, :, self.current_length:
    end] = k``), updating the length first moves the write ``T_new`` positions too far: the
    slots of the new tokens stay stale (zeros on the first call) and the next positions are
    overwritten early. Shapes are all fine, the first token of every chunk is garbage. A site
    is an assignment ``self.x = ...`` placed after a write ``self.buf[...] = ...`` whose
    index reads ``self.x`` in the same block: the assignment moves before that write.
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
            "def f(self, k):\n    self.k[:, self.n : end] = k\n    self.n = end\n",
            "def f(self, k):\n    self.n = end\n    self.k[:, self.n : end] = k\n",
        ),
    )
    UNCHANGED = (
        "def f(self, k):\n    start = self.n\n    self.n = end\n    self.k[:, start:end] = k\n",
        "def f(self, k):\n    self.k[:, start:end] = k\n    self.n = end\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        statements = list(node.body)
        found = []
        for i, statement in enumerate(statements):
            name = assigned_attribute(statement)
            if name is None:
                continue
            writes = [
                j
                for j in range(i)
                if (target := subscript_assignment_target(statements[j])) is not None
                and any(mentions(element, name) for element in target.slice)
            ]
            if writes:
                found.append(node.with_changes(body=moved(statements, i, writes[0])))
        return found
