from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._state import is_raise_guard


class KvCacheNoOverflowCheck(Mutator):
    """The bounds check of the cache is gone: nothing refuses an update that does not fit.

    Slicing clamps silently in PyTorch, so ``cache[:, :, 7:9]`` of a 8-long cache is a
    1-long view, and the write then fails with a shape error deep in the model, long after the
    generation loop went past ``max_seq_len`` (or a batch grew past ``max_batch_size``);
    with a write of matching size it can even succeed and corrupt the cache. A site is a
    statement ``if <condition>: raise ...`` (removed).
    """

    bug_id = "kv_cache_no_overflow_check"
    components = ("kv_cache",)
    category = Category.STATE_DEVICE
    layer = Layer.SHAPES
    description = "remove the check that refuses writes past max_seq_len or max_batch_size"
    symptom = "long generations crash with a cryptic shape error instead of a clear ValueError"
    hint = "write max_seq_len + 1 positions: the cache must refuse with ValueError"
    fix = "if self.current_length + T_new > self.max_seq_len: raise ValueError(...) before any write"
    node_types = (cst.If,)
    EXAMPLES = (
        Example(
            "def f(self, k):\n    if end > self.max_len:\n        raise ValueError(end)\n    self.n = end\n",
            "def f(self, k):\n    self.n = end\n",
        ),
    )
    UNCHANGED = ("if x:\n    y = 1\n", "if x:\n    raise ValueError\nelse:\n    y = 2\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.If)
        return (cst.RemoveFromParent(),) if is_raise_guard(node) else ()
