from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, SiteContext

from ._context import is_cache_name
from ._patterns import dotted_name


def _prefix_bound(element: cst.SubscriptElement) -> cst.BaseExpression | None:
    """``n`` of a slice element ``:n``."""
    part = element.slice
    if isinstance(part, cst.Slice) and part.lower is None and part.step is None:
        return part.upper
    return None


def _full() -> cst.SubscriptElement:
    return cst.SubscriptElement(cst.Slice(lower=None, upper=None))


class KvCacheWrongSlice(Mutator):
    """The cache is read back with a wrong slice.

    ``k_cache[:B, :, :current_length]`` must return every position cached so far for the
    first B rows. Slips that keep the code running: an off-by-one on the length (the newest
    token is dropped, so each step attends to the previous one's keys), the length applied on
    the heads axis instead of the sequence axis, or the batch bound dropped (all
    ``max_batch_size`` rows come back, which broadcasts or fails depending on B). A site is
    a subscript of a cache (``self.k_cache``, ``cache_v``, ``past_keys``, or a name assigned
    from one) with at least three elements whose sequence element (not the first) is ``:n``,
    i.e. a read of every cached position.
    """

    bug_id = "kv_cache_wrong_slice"
    components = ("kv_cache",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "read the cache back with a wrong slice (off by one, wrong axis, all rows)"
    symptom = "generation after the first token is garbage, or shape errors for smaller batches"
    hint = "check the shape of k_all after each update: (B, H, current_length, D)"
    fix = "return self.k_cache[:B, :, : self.current_length], self.v_cache[:B, :, : self.current_length]"
    node_types = (cst.Subscript,)
    EXAMPLES = (
        Example("y = self.k_cache[:b, :, :n]\n", "y = self.k_cache[:b, :, :n - 1]\n", site=0),
        Example("y = self.k_cache[:b, :, :n]\n", "y = self.k_cache[:b, :n, :]\n", site=1),
        Example("y = self.k_cache[:b, :, :n]\n", "y = self.k_cache[:, :, :n]\n", site=2),
        Example(
            "def f(self, n):\n    c = self.cache_v\n    return c[:, :, :n]\n",
            "def f(self, n):\n    c = self.cache_v\n    return c[:, :, :n - 1]\n",
        ),
    )
    UNCHANGED = (
        "self.k_cache[:b, :, s:e] = k\n",
        "y = self.k_cache[:, :n]\n",
        "y = self.k_cache[0, 1, 2]\n",
        "s = torch.matmul(h, self.a[:, :self.n_hidden, :])\n",
        "q = torch.cat([q[:, :, :npt, :], rot(q[:, :, npt:, :])], dim=2)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Subscript)
        if not _reads_cache(self.context, node.value):
            return ()
        elements = list(node.slice)
        if len(elements) < 3 or not all(isinstance(e.slice, cst.Slice) for e in elements):
            return ()
        positions = [i for i in range(1, len(elements)) if _prefix_bound(elements[i]) is not None]
        if len(positions) != 1:
            return ()
        seq = positions[0]
        bound = _prefix_bound(elements[seq])
        assert bound is not None and isinstance(elements[seq].slice, cst.Slice)
        found: list[Replacement] = []
        shorter = cst.BinaryOperation(left=bound, operator=cst.Subtract(), right=cst.Integer("1"))
        off_by_one = list(elements)
        off_by_one[seq] = elements[seq].with_changes(slice=elements[seq].slice.with_changes(upper=shorter))
        found.append(node.with_changes(slice=off_by_one))
        if _prefix_bound(elements[seq - 1]) is None and seq - 1 > 0:
            wrong_axis = list(elements)
            wrong_axis[seq - 1] = elements[seq].with_changes(comma=elements[seq - 1].comma)
            wrong_axis[seq] = elements[seq - 1].with_changes(comma=elements[seq].comma)
            found.append(node.with_changes(slice=wrong_axis))
        first = _prefix_bound(elements[0])
        if first is not None:
            all_rows = list(elements)
            all_rows[0] = elements[0].with_changes(slice=_full().slice)
            found.append(node.with_changes(slice=all_rows))
        return found


def _reads_cache(context: SiteContext, base: cst.BaseExpression) -> bool:
    name = dotted_name(base)
    if name is None:
        return False
    if is_cache_name(name.split(".")[-1]):
        return True
    value = context.value_of(base)
    source = None if value is None else dotted_name(value)
    return source is not None and is_cache_name(source.split(".")[-1])
