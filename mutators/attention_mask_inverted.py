from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import last_name
from ._numerics import atom
from ._patterns import callee_name
from ._state import string_value

_CASTS = ("long", "int", "float", "bool", "to", "type_as")
_FLIPPED_OPERATORS: dict[type[cst.BaseCompOp], cst.BaseCompOp] = {
    cst.NotEqual: cst.Equal(),
    cst.Equal: cst.NotEqual(),
}
_FLIPPED_METHODS = {"ne": "eq", "eq": "ne"}


def _is_attention_mask(target: cst.BaseAssignTargetExpression) -> bool:
    """``attention_mask``, ``attn_mask``, or ``batch["attention_mask"]``."""
    if isinstance(target, cst.Subscript) and len(target.slice) == 1:
        index = target.slice[0].slice
        key = string_value(index.value) if isinstance(index, cst.Index) else None
        return key is not None and key in ("attention_mask", "attn_mask")
    name = last_name(target)
    return name is not None and name in ("attention_mask", "attn_mask")


def _inverted(condition: cst.BaseExpression) -> cst.BaseExpression:
    """``a == b`` for ``a != b``, ``x.eq(y)`` for ``x.ne(y)``, ``~c`` for anything else."""
    if isinstance(condition, cst.Comparison) and len(condition.comparisons) == 1:
        operator: Any = condition.comparisons[0].operator  # every comparison operator has its spacing
        if type(operator) in _FLIPPED_OPERATORS:
            flipped = _FLIPPED_OPERATORS[type(operator)].with_changes(
                whitespace_before=operator.whitespace_before, whitespace_after=operator.whitespace_after
            )
            return condition.with_changes(
                comparisons=[condition.comparisons[0].with_changes(operator=flipped)]
            )
    if isinstance(condition, cst.Call) and isinstance(condition.func, cst.Attribute):
        method = condition.func.attr.value
        if method in _FLIPPED_METHODS:
            return condition.with_changes(
                func=condition.func.with_changes(attr=cst.Name(_FLIPPED_METHODS[method]))
            )
    return cst.UnaryOperation(operator=cst.BitInvert(), expression=atom(condition))


class AttentionMaskInverted(Mutator):
    """The attention mask is 1 on the padding and 0 on the real tokens.

    Hugging Face models read ``attention_mask`` as 1 = attend. Building it with the test the
    wrong way round (``input_ids == pad_token_id``, a forgotten ``~``) makes every layer attend
    only to padding: the loss still falls a little, through the residual stream, and the
    model looks merely weak; left-padded generation falls apart. Sites: an assignment to
    ``attention_mask`` (or ``batch["attention_mask"]``) of a cast (``.long()``, ``.int()``,
    ``.to(...)``) of a condition, with the condition inverted.
    """

    bug_id = "attention_mask_inverted"
    components = ("collate",)
    category = Category.DATA
    layer = Layer.DATA
    description = "build the attention mask inverted: 1 on padding, 0 on real tokens"
    symptom = "the model barely learns; batched and single-example outputs differ"
    hint = "print attention_mask next to input_ids for a padded row"
    fix = "attention_mask = (input_ids != pad_token_id).long(), or 1 on the real positions"
    node_types = (cst.Assign,)
    EXAMPLES = (
        Example(
            "attention_mask = (input_ids != pad_token_id).long()\n",
            "attention_mask = (input_ids == pad_token_id).long()\n",
        ),
        Example(
            "batch['attention_mask'] = batch['input_ids'].ne(self.pad_id).int()\n",
            "batch['attention_mask'] = batch['input_ids'].eq(self.pad_id).int()\n",
        ),
        Example("attention_mask = real.long()\n", "attention_mask = (~real).long()\n"),
    )
    UNCHANGED = ("attention_mask = torch.ones_like(input_ids)\n", "labels = (x != pad).long()\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Assign)
        if len(node.targets) != 1 or not _is_attention_mask(node.targets[0].target):
            return ()
        value = node.value
        if not isinstance(value, cst.Call) or callee_name(value) not in _CASTS:
            return ()
        if not isinstance(value.func, cst.Attribute):
            return ()
        condition = value.func.value
        inverted = _inverted(condition.with_changes(lpar=[], rpar=[]))
        return (
            node.with_changes(value=value.with_changes(func=value.func.with_changes(value=atom(inverted)))),
        )
