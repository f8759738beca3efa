from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement


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
    a subscript of at least three elements whose sequence element (not the first) is
    ``:n``, i.e. a read of every cached position.
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
        Example("y = c[:b, :, :n]\n", "y = c[:b, :, :n - 1]\n", site=0),
        Example("y = c[:b, :, :n]\n", "y = c[:b, :n, :]\n", site=1),
        Example("y = c[:b, :, :n]\n", "y = c[:, :, :n]\n", site=2),
    )
    UNCHANGED = ("c[:b, :, s:e] = k\n", "y = c[:, :n]\n", "y = c[0, 1, 2]\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Subscript)
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
