from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from .padding_mask_ignores_pad_id import is_pad_name


class PaddingMaskInverted(Mutator):
    """The padding mask is True on the padding instead of on the real tokens.

    ``nn.MultiheadAttention``'s ``key_padding_mask`` means "True = ignore", while
    ``scaled_dot_product_attention`` and this project mean "True = may attend". Code that
    mixes the two builds ``input_ids == pad_token_id``: every real token is hidden and only
    the padding is attended to (rows without padding attend to nothing and become NaN).
    Sites: ``==``/``!=`` against a name containing ``pad``, flipped.
    """

    bug_id = "padding_mask_inverted"
    components = ("masks",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "build the padding mask True on padding (the nn.MultiheadAttention convention)"
    symptom = "NaN for unpadded sequences, or a model that only attends to padding"
    hint = "True must mean 'may attend': check the mask of a sequence without padding"
    fix = "keep = input_ids != pad_token_id"
    node_types = (cst.ComparisonTarget,)
    EXAMPLES = (
        Example("keep = input_ids != pad_token_id\n", "keep = input_ids == pad_token_id\n"),
        Example("pad = ids == self.pad_idx\n", "pad = ids != self.pad_idx\n"),
    )
    UNCHANGED = ("keep = input_ids != 0\n", "ok = n <= pad\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.ComparisonTarget)
        if not is_pad_name(node.comparator):
            return ()
        op = node.operator
        if isinstance(op, cst.NotEqual):
            return (
                node.with_changes(
                    operator=cst.Equal(
                        whitespace_before=op.whitespace_before, whitespace_after=op.whitespace_after
                    )
                ),
            )
        if isinstance(op, cst.Equal):
            return (
                node.with_changes(
                    operator=cst.NotEqual(
                        whitespace_before=op.whitespace_before, whitespace_after=op.whitespace_after
                    )
                ),
            )
        return ()
