from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, Rewrite

from ._context import in_cache_class, is_cache_name
from ._patterns import code
from ._state import FACTORIES, is_torch_call, keyword, without_arg


class KvCacheDtypeIgnored(Mutator):
    """The cache storage ignores the ``dtype`` it was asked for.

    ``torch.zeros(shape)`` without ``dtype=dtype`` is float32 whatever the model runs in: a
    bfloat16 model then keeps a cache twice the expected size (out of memory on long
    contexts) and gets float32 keys back, while a float64 check silently rounds every key
    to float32. A site is a factory call whose ``dtype=`` is a variable (an argument passed
    through), not a fixed ``torch.<dtype>``: the keyword is dropped. Outside a cache (a class
    that holds one, or a tensor stored under a cache's name) the same slip makes any tensor
    float32, and the bug is named so.
    """

    bug_id = "kv_cache_dtype_ignored"
    components = ("kv_cache",)
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "create the cache storage without the requested dtype (always float32)"
    symptom = "half-precision inference uses twice the memory; returned keys have another dtype"
    hint = "build KVCache(..., dtype=torch.bfloat16) and print k_cache.dtype"
    fix = "torch.zeros(shape, dtype=dtype)"
    node_types = (cst.Call,)
    EXAMPLES = (Example("c = torch.zeros(shape, dtype=dtype)\n", "c = torch.zeros(shape)\n"),)
    UNCHANGED = ("c = torch.zeros(shape, dtype=torch.bool)\n", "c = torch.zeros(shape)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement | Rewrite]:
        assert isinstance(node, cst.Call)
        if not is_torch_call(node, FACTORIES):
            return ()
        found = keyword(node, "dtype")
        if found is None or not isinstance(found[1].value, cst.Name):
            return ()
        dropped = without_arg(node, found[0])
        context = self.context
        stored = context.parent
        named = isinstance(stored, cst.Assign) and any(is_cache_name(code(t.target)) for t in stored.targets)
        if in_cache_class(context) or named:
            return (dropped,)
        return (Rewrite(dropped, "create a tensor without the requested dtype (always float32)"),)
