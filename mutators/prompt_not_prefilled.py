from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import replace_node
from ._llm_runtime import is_loop, model_call_with_cache


class PromptNotPrefilled(Mutator):
    """Generation starts from the prompt's last token alone: the prompt is never prefilled.

    Before the one-token steps, the whole prompt has to go through the model once (the
    prefill) so that the cache holds its keys and values. Starting the cached loop from the
    last prompt token with an empty cache conditions every generated token on that one token:
    output is fluent but ignores the question, and the cache's positions start at 0.
    Sites: a model call with a cache that is followed by the decoding loop in the same block
    (the prefill), fed ``prompt[:, -1:]``.
    """

    bug_id = "prompt_not_prefilled"
    components = ("generation",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "start cached decoding from the last prompt token: the prompt is never prefilled"
    symptom = "generations are fluent but ignore the prompt"
    hint = "compare the first generated token with the argmax of a full forward pass of the prompt"
    fix = "feed the whole prompt once with an empty cache, then one token per step"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "def generate(model, input_ids, n):\n"
            "    logits, past = model(input_ids, past_kv=None)\n"
            "    for _ in range(n):\n"
            "        logits, past = model(logits[:, -1:].argmax(-1), past_kv=past)\n"
            "    return logits\n",
            "def generate(model, input_ids, n):\n"
            "    logits, past = model(input_ids[:, -1:], past_kv=None)\n"
            "    for _ in range(n):\n"
            "        logits, past = model(logits[:, -1:].argmax(-1), past_kv=past)\n"
            "    return logits\n",
        ),
    )
    UNCHANGED = (
        "def f(model, ids):\n    out, past = model(ids, past_kv=None)\n    return out\n",
        "def f(model, ids, n):\n    for _ in range(n):\n        out, past = model(ids, past_kv=past)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        found = []
        for i, statement in enumerate(node.body):
            call = model_call_with_cache(statement)
            if call is None or not isinstance(call.args[0].value, cst.Name):
                continue
            if not any(is_loop(later) for later in node.body[i + 1 :]):
                continue
            last = cst.parse_expression(f"{call.args[0].value.value}[:, -1:]")
            new_call = call.with_changes(args=[call.args[0].with_changes(value=last), *call.args[1:]])
            found.append(
                node.with_changes(
                    body=[replace_node(s, call, new_call) if s is statement else s for s in node.body]
                )
            )
        return found
