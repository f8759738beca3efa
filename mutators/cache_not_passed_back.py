from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import replace_node
from ._llm_runtime import cache_arg, model_call_with_cache
from ._patterns import replace_arg


class CacheNotPassedBack(Mutator):
    """Inside the decoding loop the model gets no cache: each step sees only its own token.

    A step feeds only the newest token, so the cache returned by the previous call is the
    model's whole memory of the sequence. Passing ``None`` (or forgetting the argument in a
    refactor) makes every step a fresh one-token sequence at position 0: the output stays
    fluent locally but loses the prompt after the first token. Sites: the cache argument of a
    model call in a loop body, replaced by ``None``.
    """

    bug_id = "cache_not_passed_back"
    components = ("generation",)
    category = Category.STATE_DEVICE
    layer = Layer.SHAPES
    description = "decode each step without the cache the previous step returned"
    symptom = "after the first token, generations forget the prompt"
    hint = "compare cached greedy decoding with feeding the whole sequence at every step"
    fix = "pass the cache each call returned into the next call"
    node_types = (cst.For, cst.While)
    EXAMPLES = (
        Example(
            "for _ in range(n):\n"
            "    out = model(next_ids, past_key_values=past, use_cache=True)\n"
            "    past = out.past_key_values\n",
            "for _ in range(n):\n"
            "    out = model(next_ids, past_key_values=None, use_cache=True)\n"
            "    past = out.past_key_values\n",
        ),
        Example(
            "while not done:\n    logits, past_kv = model(token[:, None], past_kv=past_kv)\n",
            "while not done:\n    logits, past_kv = model(token[:, None], past_kv=None)\n",
        ),
    )
    UNCHANGED = (
        "for _ in range(n):\n    out = model(ids, past_key_values=None)\n",
        "logits, past = model(ids, past_kv=past)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, (cst.For, cst.While))
        if not isinstance(node.body, cst.IndentedBlock):
            return ()
        found = []
        for statement in node.body.body:
            call = model_call_with_cache(statement)
            if call is None:
                continue
            found_arg = cache_arg(call)
            assert found_arg is not None  # model_call_with_cache saw it
            index, arg = found_arg
            if isinstance(arg.value, cst.Name) and arg.value.value == "None":
                continue
            found.append(replace_node(node, call, replace_arg(call, index, cst.Name("None"))))
        return found
