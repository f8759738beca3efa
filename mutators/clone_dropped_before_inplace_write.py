from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm import simple_value, with_value
from ._llm_runtime import mentions_word
from ._patterns import callee_name, statement_call


def _writes_in_place(statement: cst.BaseStatement, name: str) -> bool:
    """``name[...] = value`` or ``name.masked_fill_(...)`` (any in-place method but ``requires_grad_``)."""
    found = simple_value(statement)
    if found is not None and m.matches(found[0], m.Subscript(value=m.Name(name))):
        return True
    call = statement_call(statement)
    if call is None or not m.matches(call.func, m.Attribute(value=m.Name(name))):
        return False
    method = callee_name(call) or ""
    return method.endswith("_") and not method.startswith("_") and method != "requires_grad_"


class CloneDroppedBeforeInplaceWrite(Mutator):
    """A copy is dropped before an in-place write: the caller's tensor is modified.

    ``labels = input_ids.clone(); labels[attention_mask == 0] = -100`` builds new labels;
    without ``.clone()`` ``labels`` is the same tensor as ``input_ids``, and the padding of the
    model's *inputs* becomes -100 as well: the embedding lookup fails on the next forward pass,
    or (when the inputs were already used) the batch that is logged or reused is silently
    changed. Everything returned looks right. Sites: ``x = y.clone()`` followed in the same block
    by an in-place write into ``x``.
    """

    bug_id = "clone_dropped_before_inplace_write"
    components = ("lm_loss",)
    category = Category.DATA
    layer = Layer.DATA
    description = "labels built in place from input_ids without .clone(): the inputs change too"
    symptom = "the model's input ids contain -100 after the labels are built: index errors or changed batches"
    hint = "after building the labels, are the input ids still the same as before?"
    fix = "labels = input_ids.clone() before writing into labels"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "def f(input_ids, mask):\n"
            "    labels = input_ids.clone()\n"
            "    labels[mask == 0] = -100\n"
            "    return labels\n",
            "def f(input_ids, mask):\n"
            "    labels = input_ids\n"
            "    labels[mask == 0] = -100\n"
            "    return labels\n",
        ),
        Example(
            "def f(batch):\n"
            "    labels = batch['input_ids'].clone()\n"
            "    labels.masked_fill_(labels == pad_id, -100)\n"
            "    return labels\n",
            "def f(batch):\n"
            "    labels = batch['input_ids']\n"
            "    labels.masked_fill_(labels == pad_id, -100)\n"
            "    return labels\n",
        ),
    )
    UNCHANGED = (
        "def f(x):\n    y = x.clone()\n    return y\n",
        "def f(x):\n    y = x.clone()\n    y.requires_grad_()\n    return y\n",
        # x-transformers' selective attention: a gate, not labels
        "def f(sim):\n    gate = F.relu(sim)\n    gate = gate.clone()\n    gate[..., -1] = 0.\n"
        "    return gate\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        body = list(node.body)
        alternatives: list[Replacement] = []
        for index, statement in enumerate(body):
            found = simple_value(statement)
            if found is None or not isinstance(found[0], cst.Name):
                continue
            value = found[1]
            if not m.matches(value, m.Call(func=m.Attribute(attr=m.Name("clone")), args=[])):
                continue
            # the claim is labels built from token ids; a clone elsewhere (x-transformers'
            # attention gate, a relu output) protects no input the caller reuses
            if not mentions_word(statement, "label", "target", "ids"):
                continue
            if not any(_writes_in_place(later, found[0].value) for later in body[index + 1 :]):
                continue
            assert isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
            assert isinstance(statement, cst.SimpleStatementLine)
            body_with = [*body[:index], with_value(statement, value.func.value), *body[index + 1 :]]
            alternatives.append(node.with_changes(body=body_with))
        return alternatives
