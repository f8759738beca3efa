from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import replace_node
from ._llm_runtime import model_call_with_cache, same_code, single_assign
from ._patterns import callee_name


def _accumulated(statement: cst.BaseStatement) -> cst.BaseExpression | None:
    """``tokens`` of ``tokens = torch.cat([tokens, new], dim=...)``: the growing sequence."""
    assigned = single_assign(statement)
    if assigned is None:
        return None
    target, value = assigned
    if not isinstance(value, cst.Call) or callee_name(value) not in ("cat", "concat", "concatenate"):
        return None
    if not value.args or not isinstance(value.args[0].value, (cst.List, cst.Tuple)):
        return None
    first = value.args[0].value.elements
    if not first or not same_code(first[0].value, target):
        return None
    return target


class GenerationRefeedsWholeSequence(Mutator):
    """Every decoding step feeds the whole sequence so far, together with the cache.

    With a key/value cache, a step must feed only the newest token: the cache already holds
    the keys and values of everything before it. Feeding the whole sequence again appends the
    prefix to the cache a second time and gives it the wrong positions; the model attends to
    duplicated history and generations degrade after the first token, while the cost per step
    grows with the length. Sites: in a decoding loop that appends to ``tokens`` with
    ``torch.cat``, the model call that takes a cache, fed ``tokens`` instead.
    """

    bug_id = "generation_refeeds_whole_sequence"
    components = ("generation",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "feed the whole sequence at every decoding step although a cache is passed"
    symptom = "generation gets slower with every token and turns into repetition after the first one"
    hint = "print input_ids.shape at every model call of the loop: is it (B, 1) after the prompt?"
    fix = "after the prefill, feed only the last generated token with the returned cache"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "for _ in range(max_new_tokens):\n"
            "    out = model(next_ids, past_key_values=past, use_cache=True)\n"
            "    past = out.past_key_values\n"
            "    next_ids = out.logits[:, -1:].argmax(-1)\n"
            "    generated = torch.cat([generated, next_ids], dim=-1)\n",
            "for _ in range(max_new_tokens):\n"
            "    out = model(generated, past_key_values=past, use_cache=True)\n"
            "    past = out.past_key_values\n"
            "    next_ids = out.logits[:, -1:].argmax(-1)\n"
            "    generated = torch.cat([generated, next_ids], dim=-1)\n",
        ),
    )
    UNCHANGED = (
        "for _ in range(n):\n    logits = model(idx)\n    idx = torch.cat((idx, nxt), dim=1)\n",
        "for _ in range(n):\n    out = model(ids, past_kv=past)\n    ids = torch.cat([ids, t], dim=-1)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        grown = [t for t in map(_accumulated, node.body) if t is not None]
        if len(grown) != 1:
            return ()
        sequence = grown[0]
        found = []
        for statement in node.body:
            call = model_call_with_cache(statement)
            if call is None or same_code(call.args[0].value, sequence):
                continue
            new_call = call.with_changes(args=[call.args[0].with_changes(value=sequence), *call.args[1:]])
            found.append(
                node.with_changes(
                    body=[replace_node(s, call, new_call) if s is statement else s for s in node.body]
                )
            )
        return found
