from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._context import in_cache_class
from ._state import is_raise_guard

_ORDERINGS = (cst.GreaterThan, cst.GreaterThanEqual, cst.LessThan, cst.LessThanEqual)


class KvCacheNoOverflowCheck(Mutator):
    """The bounds check of the cache is gone: nothing refuses an update that does not fit.

    Slicing clamps silently in PyTorch, so ``cache[:, :, 7:9]`` of a 8-long cache is a
    1-long view, and the write then fails with a shape error deep in the model, long after the
    generation loop went past ``max_seq_len`` (or a batch grew past ``max_batch_size``);
    with a write of matching size it can even succeed and corrupt the cache. A site is a
    statement ``if <comparison>: raise ...`` (removed) in a class that holds a cache (its name
    says so, or it keeps ``self.k_cache``-like attributes): a bounds check. Argument checks
    elsewhere (``if beam_size is None: raise``) guard no cache.
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
            "class KVCache:\n"
            "    def f(self, k):\n"
            "        if end > self.max_len:\n"
            "            raise ValueError(end)\n"
            "        self.n = end\n",
            "class KVCache:\n    def f(self, k):\n        self.n = end\n",
        ),
        Example(
            "class Attention(nn.Module):\n"
            "    def step(self, k):\n"
            "        if self.pos + 1 > self.k_cache.size(2):\n"
            "            raise RuntimeError('cache full')\n"
            "        self.k_cache[:, :, self.pos] = k\n",
            "class Attention(nn.Module):\n    def step(self, k):\n        self.k_cache[:, :, self.pos] = k\n",
        ),
    )
    UNCHANGED = (
        "if x:\n    y = 1\n",
        "if x:\n    raise ValueError\nelse:\n    y = 2\n",
        "def f(self, k):\n    if end > self.max_len:\n        raise ValueError(end)\n",
        "class Model(nn.Module):\n    def f(self, a, b):\n        if a > b:\n            raise ValueError\n",
        "class KVCache:\n    def f(self, k):\n        if k is None:\n            raise ValueError(k)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.If)
        if not is_raise_guard(node) or not _is_bound_check(node.test):
            return ()
        return (cst.RemoveFromParent(),) if in_cache_class(self.context) else ()


def _is_bound_check(test: cst.BaseExpression) -> bool:
    """A comparison of sizes (``end > self.max_len``), alone or among ``or``/``and``."""
    if isinstance(test, cst.BooleanOperation):
        return _is_bound_check(test.left) or _is_bound_check(test.right)
    return isinstance(test, cst.Comparison) and any(
        isinstance(c.operator, _ORDERINGS) for c in test.comparisons
    )
