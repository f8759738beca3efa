from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._context import words
from ._patterns import dotted_name
from ._state import axis_length_with_axis, literal_axis

#: words of the name of a positional table
_TABLE_WORDS = frozenset(("pe", "pos", "position", "positional", "positions", "wpe", "encoding", "encodings"))


def _is_full_slice(element: cst.SubscriptElement) -> bool:
    part = element.slice
    return isinstance(part, cst.Slice) and part.lower is None and part.upper is None and part.step is None


def _prefix_upper(element: cst.SubscriptElement) -> cst.BaseExpression | None:
    part = element.slice
    if isinstance(part, cst.Slice) and part.lower is None and part.step is None:
        return part.upper
    return None


class PeSlicedOnWrongAxis(Mutator):
    """The positional table is cut to the input length along the wrong axis.

    Tutorials store the table sequence-first, ``(max_len, 1, d_model)``, and slice it with
    ``pe[:x.size(0)]``; in batch-first code the same slice takes the batch size as the length
    (``pe[:, :x.size(0)]``), or drops the leading ``:`` and slices the singleton axis. When the
    batch size is 1 every position gets the encoding of position 0 and nothing crashes;
    otherwise the shapes only clash when batch and length differ. Sites, on a table named as
    one (``pe``, ``pos_table``, ``positional_encoding``...): ``t[:, :n]`` where ``n`` is
    ``x.size(k)`` or ``x.shape[k]`` (that axis changed between 0 and 1), and any ``t[:, :n]``
    (the leading ``:`` dropped). A slice of logits or scores is no positional table.
    """

    bug_id = "pe_sliced_on_wrong_axis"
    components = ("positional_encoding",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "slice the positional table by the batch size or along the wrong axis"
    symptom = "every position gets the same encoding at batch size 1; shape errors at other sizes"
    hint = "print the shape of the slice of pe that is added, for a batch of 1 and of 2"
    fix = "x = x + self.pe[:, : x.size(1)] for batch-first x of shape (B, T, d_model)"
    node_types = (cst.Subscript,)
    EXAMPLES = (
        Example("x = x + self.pe[:, : x.size(1)]\n", "x = x + self.pe[:, : x.size(0)]\n", site=0),
        Example("x = x + self.pe[:, : x.size(1)]\n", "x = x + self.pe[: x.size(1)]\n", site=1),
        Example("x = x + self.pe[:, :x.shape[1], :]\n", "x = x + self.pe[:, :x.shape[0], :]\n"),
    )
    UNCHANGED = (
        "y = pe[:T]\n",
        "y = pe[0, :T]\n",
        "y = t[:, 1:]\n",
        "logits = logits[:, :-1]\n",
        "scores = scores[:, :beams]\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Subscript)
        elements = list(node.slice)
        if len(elements) < 2 or not _is_full_slice(elements[0]):
            return ()
        table = dotted_name(node.value)
        if table is None or not words(table.split(".")[-1]) & _TABLE_WORDS:
            return ()
        upper = _prefix_upper(elements[1])
        if upper is None:
            return ()
        found: list[Replacement] = []
        axis = literal_axis(upper)
        if axis in (0, 1):
            other = axis_length_with_axis(upper, 1 - axis)
            assert other is not None and isinstance(elements[1].slice, cst.Slice)
            by_batch = elements[1].with_changes(slice=elements[1].slice.with_changes(upper=other))
            found.append(node.with_changes(slice=[elements[0], by_batch, *elements[2:]]))
        if len(elements) == 2:
            found.append(node.with_changes(slice=[elements[1].with_changes(comma=cst.MaybeSentinel.DEFAULT)]))
        return found
