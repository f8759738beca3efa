from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import replace_node
from ._llm_runtime import is_ignore_label, is_pad_id, mentions_word, named
from ._numerics import atom
from ._patterns import argument


def _pad_id_in(function: cst.FunctionDef) -> cst.BaseExpression | None:
    """The pad id a function can use: a parameter such as ``pad_token_id``, or an attribute
    such as ``self.tokenizer.pad_token_id`` it reads."""
    for param in function.params.params:
        if is_pad_id(param.name):
            return param.name
    for attribute in m.findall(function.body, m.Attribute()):
        assert isinstance(attribute, cst.Attribute)
        if is_pad_id(attribute):
            return attribute
    return None


def _equals(left: cst.BaseExpression, right: cst.BaseExpression) -> cst.Comparison:
    return cst.Comparison(left=atom(left), comparisons=[cst.ComparisonTarget(cst.Equal(), right)])


class LabelsMaskedByPadId(Mutator):
    """The labels are masked where the token equals the pad id, not where the input is padding.

    Many tokenizers have no pad token and pad with the eos token. Masking
    ``labels[labels == pad_token_id] = -100`` then also removes every real eos from the
    targets: the model is never trained to end a sequence and generates until the length
    limit. The padding must be told apart by position (the attention mask), never by value.
    Sites: ``ids.masked_fill(mask, -100)`` and ``labels[mask] = -100`` in a function that has
    a pad id at hand, with the mask replaced by ``ids == pad_id``.
    """

    bug_id = "labels_masked_by_pad_id"
    components = ("collate",)
    category = Category.TARGET
    layer = Layer.TARGET
    description = "mask the labels where input_ids == pad_token_id instead of by the attention mask"
    symptom = "with eos used as pad the model never learns to stop and generates to the length limit"
    hint = "pad with the eos id: are the real eos tokens still targets?"
    fix = "labels = input_ids.masked_fill(attention_mask == 0, -100)"
    node_types = (cst.FunctionDef,)
    EXAMPLES = (
        Example(
            "def collate(sequences, pad_token_id):\n"
            "    ids, real = pad(sequences, pad_token_id)\n"
            "    return ids.masked_fill(~real, -100)\n",
            "def collate(sequences, pad_token_id):\n"
            "    ids, real = pad(sequences, pad_token_id)\n"
            "    return ids.masked_fill(ids == pad_token_id, -100)\n",
        ),
        Example(
            "def __call__(self, examples):\n"
            "    input_ids = pad_sequence(examples, batch_first=True, padding_value=self.pad_token_id)\n"
            "    labels = input_ids.clone()\n"
            "    labels[~real_tokens(examples)] = -100\n"
            "    return labels\n",
            "def __call__(self, examples):\n"
            "    input_ids = pad_sequence(examples, batch_first=True, padding_value=self.pad_token_id)\n"
            "    labels = input_ids.clone()\n"
            "    labels[labels == self.pad_token_id] = -100\n"
            "    return labels\n",
        ),
    )
    UNCHANGED = (
        "def f(labels, pad_token_id):\n    labels[labels == pad_token_id] = -100\n    return labels\n",
        "def f(ids, real):\n    return ids.masked_fill(~real, -100)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.FunctionDef)
        pad = _pad_id_in(node)
        if pad is None:
            return ()
        found = []
        for call in m.findall(node.body, m.Call(func=m.Attribute(attr=m.Name("masked_fill")))):
            assert isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
            mask, value = (
                argument(call, keyword="mask", position=0),
                argument(call, keyword="value", position=1),
            )
            if (
                mask is None
                or value is None
                or not is_ignore_label(value[1].value)
                or mentions_word(mask[1].value, "pad")
            ):
                continue
            new_mask = mask[1].with_changes(value=_equals(call.func.value, pad))
            args = [new_mask if i == mask[0] else a for i, a in enumerate(call.args)]
            found.append(replace_node(node, call, call.with_changes(args=args)))
        for assign in m.findall(node.body, m.Assign(targets=[m.AssignTarget(target=m.Subscript())])):
            assert isinstance(assign, cst.Assign)
            target = assign.targets[0].target
            assert isinstance(target, cst.Subscript)
            if (
                not named(target.value, "label")
                or not is_ignore_label(assign.value)
                or mentions_word(target, "pad")
            ):
                continue
            index = cst.SubscriptElement(cst.Index(_equals(target.value, pad)))
            found.append(replace_node(node, target, target.with_changes(slice=[index])))
        return found
