from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._context import in_cache_class
from ._state import changes_state, is_raise_guard, moved


class KvCacheStateChangedBeforeRaise(Mutator):
    """The bounds check runs after the cache was written and its length advanced.

    ``self.current_length += T; if self.current_length > max: raise`` is the natural order
    when the check is an afterthought. The exception then leaves a cache whose length (or
    contents) already changed, so a caller that catches it and continues (truncating the
    prompt, starting a new batch) decodes from a corrupted state, or the write fails first
    with a shape error instead of the promised ValueError. A site is an
    ``if <condition>: raise ...`` statement, in a class that holds a cache, followed in its
    block by assignments to attributes or their items: the check moves after the last of them.
    """

    bug_id = "kv_cache_state_changed_before_raise"
    components = ("kv_cache",)
    category = Category.STATE_DEVICE
    layer = Layer.SHAPES
    description = "check the cache bounds only after writing and advancing current_length"
    symptom = "after a refused update the cache is corrupted: later generations return garbage or crash"
    hint = "catch the ValueError of an overflowing update and compare the cache with a snapshot"
    fix = "validate every bound first, then write the keys/values, then advance current_length"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "class KVCache:\n"
            "    def f(self, k):\n"
            "        if end > self.max_len:\n"
            "            raise ValueError(end)\n"
            "        self.k[:, start:end] = k\n"
            "        self.n = end\n"
            "        return self.k[:, :end]\n",
            "class KVCache:\n"
            "    def f(self, k):\n"
            "        self.k[:, start:end] = k\n"
            "        self.n = end\n"
            "        if end > self.max_len:\n"
            "            raise ValueError(end)\n"
            "        return self.k[:, :end]\n",
        ),
    )
    UNCHANGED = (
        "class KVCache:\n"
        "    def f(self, k):\n        self.n = end\n"
        "        if end > self.max_len:\n            raise ValueError(end)\n",
        "def f(k):\n    if k > 3:\n        raise ValueError(k)\n    n = k\n",
        "class RNNModel(nn.Module):\n"
        "    def __init__(self, a, b):\n"
        "        if a != b:\n            raise ValueError(a)\n        self.w = b\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        if not in_cache_class(self.context):
            return ()
        statements = list(node.body)
        changing = [i for i, statement in enumerate(statements) if changes_state(statement)]
        found = []
        for i, statement in enumerate(statements):
            later = [j for j in changing if j > i]
            if is_raise_guard(statement) and later:
                found.append(node.with_changes(body=moved(statements, i, later[-1] + 1)))
        return found
