from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import callee_name

_NAMES = ("ignore_index", "ignore_idx")
#: calls whose arguments write a value into a tensor
_FILLS = ("masked_fill", "masked_fill_", "where", "full", "full_like", "new_full", "fill_")
_MINUS_100 = cst.UnaryOperation(cst.Minus(), cst.Integer("100"))


def _is_ignore(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value in _NAMES


class IgnoreIndexHardCoded(Mutator):
    """The label written on ignored positions is a hard-coded -100 instead of the ``ignore_index``
    argument.

    -100 is PyTorch's default, so the function works for every caller that keeps the default,
    and every test that does. A caller that passes its own (``ignore_index=pad_token_id``, or -1
    in a codebase that reserves -100) gets labels its loss does not ignore: padding is trained
    on, or an index error shows up far from the cause. Sites: ``ignore_index`` as the value
    written into a tensor (an assignment, ``masked_fill``, ``where``, ``full_like``); comparisons
    with it are not sites.
    """

    bug_id = "ignore_index_hard_coded"
    components = ("lm_loss",)
    category = Category.TARGET
    layer = Layer.TARGET
    description = "ignored label positions get a hard-coded -100 instead of the ignore_index argument"
    symptom = (
        "with a non-default ignore_index the model trains on padding, or the loss fails with an index error"
    )
    hint = "call it with ignore_index=-1: which value lands on the padding?"
    fix = "labels[attention_mask == 0] = ignore_index"
    node_types = (cst.Assign, cst.Call)
    EXAMPLES = (
        Example("labels[attention_mask == 0] = ignore_index\n", "labels[attention_mask == 0] = -100\n"),
        Example(
            "labels = input_ids.masked_fill(attention_mask == 0, ignore_index)\n",
            "labels = input_ids.masked_fill(attention_mask == 0, -100)\n",
        ),
        Example(
            "labels = torch.where(mask.bool(), input_ids, torch.full_like(input_ids, ignore_index))\n",
            "labels = torch.where(mask.bool(), input_ids, torch.full_like(input_ids, -100))\n",
        ),
    )
    UNCHANGED = (
        "counted = labels != ignore_index\n",
        "loss = F.cross_entropy(x, y, ignore_index=ignore_index)\n",
        "labels[mask] = IGNORE_INDEX\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.Assign):
            return (node.with_changes(value=_MINUS_100),) if _is_ignore(node.value) else ()
        assert isinstance(node, cst.Call)
        if callee_name(node) not in _FILLS:
            return ()
        for index, arg in enumerate(node.args):
            if _is_ignore(arg.value) and (
                arg.keyword is None or arg.keyword.value in ("value", "other", "fill_value")
            ):
                args = list(node.args)
                args[index] = arg.with_changes(value=_MINUS_100)
                return (node.with_changes(args=args),)
        return ()
