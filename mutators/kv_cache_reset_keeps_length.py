from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._context import in_cache_class
from ._state import assigned_attribute

_RESETS = ("reset", "clear", "reset_cache", "clear_cache")


def _zeroes_attribute(statement: cst.BaseStatement) -> bool:
    if assigned_attribute(statement) is None:
        return False
    assert isinstance(statement, cst.SimpleStatementLine)
    small = statement.body[0]
    return isinstance(small, cst.Assign) and isinstance(small.value, cst.Integer) and small.value.value == "0"


class KvCacheResetKeepsLength(Mutator):
    """``reset()`` forgets to set the cached length back to zero.

    A reset that only zeroes the storage (or does nothing but ``pass`` after a refactor)
    looks harmless: the first generation of a session is perfect. The second prompt is then
    appended after the first one's positions: it attends to the previous conversation, and
    eventually overflows ``max_seq_len``. A site is a statement ``self.x = 0`` in a method
    named ``reset``/``clear`` of a class that holds a cache (removed; a ``pass`` keeps the body
    valid); the ``reset`` of a meter or a counter is not a cache's.
    """

    bug_id = "kv_cache_reset_keeps_length"
    components = ("kv_cache",)
    category = Category.STATE_DEVICE
    layer = Layer.EVALUATION
    description = "reset() does not set current_length back to 0"
    symptom = "the second generation in a session continues the first one's context, then overflows"
    hint = "call reset() and check current_length and the shape of the next update's output"
    fix = "def reset(self): self.current_length = 0"
    node_types = (cst.FunctionDef,)
    EXAMPLES = (
        Example(
            "class KVCache:\n    def reset(self):\n        self.current_length = 0\n",
            "class KVCache:\n    def reset(self):\n        pass\n",
        ),
        Example(
            'class Cache:\n    def reset(self):\n        """Forget."""\n'
            "        self.n = 0\n        self.k.zero_()\n",
            'class Cache:\n    def reset(self):\n        """Forget."""\n        self.k.zero_()\n',
        ),
        Example(
            "class Attention(nn.Module):\n"
            "    def clear_cache(self):\n        self.cache_k.zero_()\n        self.pos = 0\n",
            "class Attention(nn.Module):\n    def clear_cache(self):\n        self.cache_k.zero_()\n",
        ),
    )
    UNCHANGED = (
        "class KVCache:\n    def update(self):\n        self.n = 0\n",
        "class KVCache:\n    def reset(self):\n        n = 0\n",
        "class AverageMeter:\n    def reset(self):\n        self.sum = 0\n        self.count = 0\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.FunctionDef)
        if node.name.value not in _RESETS or not isinstance(node.body, cst.IndentedBlock):
            return ()
        if not in_cache_class(self.context):
            return ()
        statements = list(node.body.body)
        found = []
        for i, statement in enumerate(statements):
            if _zeroes_attribute(statement):
                rest = statements[:i] + statements[i + 1 :]
                if not rest:
                    rest = [cst.SimpleStatementLine(body=[cst.Pass()])]
                found.append(node.with_changes(body=node.body.with_changes(body=rest)))
        return found
