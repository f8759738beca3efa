from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import (
    is_minus_infinity_fill,
    masked_fill_args,
    replace_names,
    where_fill_args,
)
from ._llm import simple_value
from ._patterns import callee_name, replace_arg, statement_call


def _masking_call(statement: cst.BaseStatement) -> tuple[str, cst.Call] | None:
    """``(scores, call)`` of ``scores = scores.masked_fill(m, -inf)``, ``scores =
    torch.where(m, scores, -inf)`` or ``scores.masked_fill_(m, -inf)``."""
    found = simple_value(statement)
    if found is not None and isinstance(found[0], cst.Name) and isinstance(found[1], cst.Call):
        name, call = found[0].value, found[1]
    else:
        in_place = statement_call(statement)
        if in_place is None or callee_name(in_place) != "masked_fill_":
            return None
        if not isinstance(in_place.func, cst.Attribute) or not isinstance(in_place.func.value, cst.Name):
            return None
        name, call = in_place.func.value.value, in_place
    args = masked_fill_args(call) or where_fill_args(call)
    if args is None or not is_minus_infinity_fill(args[1][1].value):
        return None
    if not m.findall(call, m.Name(name)):
        return None
    return name, call


def _mask_statement(statement: cst.BaseStatement) -> tuple[str, cst.Call] | None:
    """The masking of a statement, alone or as the only statement of an ``if``."""
    if (
        isinstance(statement, cst.If)
        and statement.orelse is None
        and isinstance(statement.body, cst.IndentedBlock)
    ):
        if len(statement.body.body) == 1:
            return _masking_call(statement.body.body[0])
        return None
    return _masking_call(statement)


def _softmax_of(statement: cst.BaseStatement, scores: str) -> str | None:
    """``weights`` of ``weights = F.softmax(scores, dim=-1)`` (any spelling that reads ``scores``)."""
    found = simple_value(statement)
    if found is None or not isinstance(found[0], cst.Name):
        return None
    softmaxes = m.findall(found[1], m.Call(func=m.Attribute(attr=m.Name("softmax")) | m.Name("softmax")))
    if len(softmaxes) != 1 or not m.findall(softmaxes[0], m.Name(scores)):
        return None
    return found[0].value


def _weights_masked(
    statement: cst.BaseStatement, call: cst.Call, scores: str, weights: str
) -> cst.BaseStatement:
    """The masking statement, applied to the weights with a fill of 0."""
    args = masked_fill_args(call) or where_fill_args(call)
    assert args is not None
    zeroed = replace_arg(call, args[1][0], cst.Float("0.0"))
    rewritten = replace_names(statement.deep_replace(call, zeroed), scores, cst.Name(weights))
    assert isinstance(rewritten, cst.BaseStatement)
    return rewritten


class MaskAppliedAfterSoftmax(Mutator):
    """The attention mask is applied to the weights after the softmax instead of to the scores before it.

    Masking the scores with minus infinity before the softmax gives the masked keys exactly zero
    weight and renormalizes the others. Zeroing the weights after the softmax (the habit from
    masking losses) leaves every row's allowed weights summing to less than one: padded and
    future positions took part in the normalization, so the output depends on them through the
    denominator and shrinks with the amount of masking. Shapes agree and nothing is NaN. Sites:
    a statement that fills masked scores with minus infinity (alone or under an ``if``) followed
    by the softmax of those scores; the mask moves after the softmax, filling 0.
    """

    bug_id = "mask_applied_after_softmax"
    components = ("attention", "gqa")
    category = Category.NUMERICS
    layer = Layer.SHAPES
    description = "the attention mask is applied after the softmax (weights zeroed) instead of before it"
    symptom = (
        "outputs shrink with the amount of padding; the model still reads the future through the normalizer"
    )
    hint = "after masking, does every query's row of attention weights still sum to 1?"
    fix = "scores = scores.masked_fill(~mask, float('-inf')); weights = scores.softmax(-1)"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "def f(scores, mask):\n"
            "    if mask is not None:\n"
            "        scores = scores.masked_fill(~mask, float('-inf'))\n"
            "    weights = F.softmax(scores, dim=-1)\n"
            "    return weights\n",
            "def f(scores, mask):\n"
            "    weights = F.softmax(scores, dim=-1)\n"
            "    if mask is not None:\n"
            "        weights = weights.masked_fill(~mask, 0.0)\n"
            "    return weights\n",
        ),
        Example(
            "def f(att, T):\n"
            "    att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float('-inf'))\n"
            "    att = F.softmax(att, dim=-1)\n"
            "    return att\n",
            "def f(att, T):\n"
            "    att = F.softmax(att, dim=-1)\n"
            "    att = att.masked_fill(self.bias[:, :, :T, :T] == 0, 0.0)\n"
            "    return att\n",
        ),
    )
    UNCHANGED = (
        "def f(w, m):\n    w = F.softmax(w, -1)\n    w = w.masked_fill(~m, 0.0)\n    return w\n",
        "def f(s, m):\n    s = s.masked_fill(~m, float('-inf'))\n    return s.max()\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        body = list(node.body)
        alternatives: list[Replacement] = []
        for index, statement in enumerate(body):
            found = _mask_statement(statement)
            if found is None:
                continue
            scores, call = found
            readers = [i for i in range(index + 1, len(body)) if m.findall(body[i], m.Name(scores))]
            if not readers:
                continue
            weights = _softmax_of(body[readers[0]], scores)
            if weights is None:
                continue
            after = readers[0]
            moved = _weights_masked(statement, call, scores, weights)
            alternatives.append(
                node.with_changes(
                    body=[*body[:index], *body[index + 1 : after + 1], moved, *body[after + 1 :]]
                )
            )
        return alternatives
