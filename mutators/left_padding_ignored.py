from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import named
from ._patterns import with_leading_lines
from ._state import string_value


def _side_test(test: cst.BaseExpression) -> str | None:
    """``"left"`` or ``"right"`` for ``padding_side == "left"`` / ``self.padding_side == 'right'``."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    if not isinstance(test.comparisons[0].operator, cst.Equal) or not named(test.left, "side"):
        return None
    side = string_value(test.comparisons[0].comparator)
    return side if side in ("left", "right") else None


def _unwrapped(branch: cst.BaseSuite, leading: Sequence[cst.EmptyLine]) -> Replacement:
    assert isinstance(branch, cst.IndentedBlock)
    statements = list(branch.body)
    statements[0] = with_leading_lines(statements[0], leading)
    return cst.FlattenSentinel(statements)


class LeftPaddingIgnored(Mutator):
    """``padding_side="left"`` is accepted and ignored: batches are always right-padded.

    For training, right padding is fine. For batched generation every prompt must end at the
    last column, where the next token is predicted; right-padded, the shorter prompts are
    followed by padding and the model continues from pad tokens. Single-prompt tests and
    equal-length batches see nothing. Sites: ``if padding_side == "left": ... else: ...``
    (the else branch kept) and ``if padding_side == "right": ...`` (its body kept).
    """

    bug_id = "left_padding_ignored"
    components = ("collate",)
    category = Category.DATA
    layer = Layer.DATA
    description = "padding_side='left' ignored: every batch is right-padded"
    symptom = "batched generation continues from padding; short prompts get garbage continuations"
    hint = "pad two prompts of different lengths on the left: does every row end with its prompt?"
    fix = "put the padding before the tokens when padding_side == 'left'"
    node_types = (cst.If,)
    EXAMPLES = (
        Example(
            "if padding_side == 'left':\n    row[-len(seq):] = seq\nelse:\n    row[:len(seq)] = seq\n",
            "row[:len(seq)] = seq\n",
        ),
        Example(
            "if self.padding_side == 'right':\n    ids = ids + [pad] * n\nelse:\n    ids = [pad] * n + ids\n",
            "ids = ids + [pad] * n\n",
        ),
    )
    UNCHANGED = ("if mode == 'left':\n    x = 1\nelse:\n    x = 2\n", "if side == 'left':\n    x = 1\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.If)
        side = _side_test(node.test)
        if side == "right":
            return (_unwrapped(node.body, node.leading_lines),)
        if side == "left" and isinstance(node.orelse, cst.Else):
            return (_unwrapped(node.orelse.body, node.leading_lines),)
        return ()
