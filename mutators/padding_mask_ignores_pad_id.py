from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import dotted_name


def is_pad_name(expr: cst.BaseExpression) -> bool:
    """``pad_token_id``, ``self.pad_idx``, ``PAD``: a name that holds the padding id."""
    name = dotted_name(expr)
    return name is not None and "pad" in name.split(".")[-1].lower()


class PaddingMaskIgnoresPadId(Mutator):
    """The padding mask compares the ids with a literal 0 instead of ``pad_token_id``.

    Most tokenizers in tutorials pad with id 0, so ``input_ids != 0`` works in every test.
    With a tokenizer whose pad id is not 0 (GPT-2 style models reuse EOS, BERT-like ones often
    use 1), real tokens with id 0 are masked out and the actual padding is attended to.
    Sites: ``==``/``!=`` against a name containing ``pad``.
    """

    bug_id = "padding_mask_ignores_pad_id"
    components = ("masks",)
    category = Category.DATA
    layer = Layer.SHAPES
    description = "compare the ids with a literal 0 instead of pad_token_id"
    symptom = "the model attends to padding with a tokenizer whose pad id is not 0"
    hint = "build the padding mask with pad_token_id=1 and check which positions are False"
    fix = "keep = input_ids != pad_token_id"
    node_types = (cst.ComparisonTarget,)
    EXAMPLES = (
        Example("keep = input_ids != pad_token_id\n", "keep = input_ids != 0\n"),
        Example("pad = ids == self.pad_idx\n", "pad = ids == 0\n"),
    )
    UNCHANGED = ("keep = input_ids != 0\n", "keep = ids != eos\n", "ok = n < max_pad\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.ComparisonTarget)
        if not isinstance(node.operator, (cst.Equal, cst.NotEqual)) or not is_pad_name(node.comparator):
            return ()
        return (node.with_changes(comparator=cst.Integer("0")),)
