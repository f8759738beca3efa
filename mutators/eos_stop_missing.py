from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import guarded, mentions_word, removed_if


def _stops_when_finished(statement: cst.BaseStatement) -> bool:
    """``if finished.all(): break`` (or ``if unfinished.max() == 0: break``, ``if done: break``)."""
    body = guarded(statement)
    if body is None or not m.matches(body, m.Break()):
        return False
    assert isinstance(statement, cst.If)
    # a test on a count (``len(finished) >= max_candidates``) caps a list, it is no eos stop
    if m.findall(statement.test, m.Call(func=m.Name("len"))):
        return False
    return mentions_word(statement.test, "finish", "done", "eos", "stop", "ended")


class EosStopMissing(Mutator):
    """Generation does not stop when every row has produced the end-of-sequence token.

    Finished rows keep emitting eos (or padding), so the output is still readable, but the
    loop always runs ``max_new_tokens`` steps: the batch pays for the longest allowed answer
    every time, and outputs carry a tail of eos tokens that length statistics, rewards and
    detokenisers count. Sites: ``if finished.all(): break``-like statements, removed.
    """

    bug_id = "eos_stop_missing"
    components = ("generation",)
    category = Category.EVALUATION
    layer = Layer.EVALUATION
    description = "keep decoding after every row has produced eos_token_id"
    symptom = "generation always takes max_new_tokens steps; outputs end in long runs of eos"
    hint = "generate with eos_token_id set to the first greedy token: how long is the output?"
    fix = "break out of the loop once every row has finished"
    node_types = (cst.If,)
    EXAMPLES = (
        Example(
            "for _ in range(max_new_tokens):\n"
            "    step()\n"
            "    if unfinished_sequences.max() == 0:\n"
            "        break\n",
            "for _ in range(max_new_tokens):\n    step()\n",
        ),
        Example(
            "while True:\n    step()\n    if finished.all():\n        break\n",
            "while True:\n    step()\n",
        ),
    )
    UNCHANGED = (
        "for x in xs:\n    if x > limit:\n        break\n    f(x)\n",
        "for x in xs:\n    if done:\n        log()\n        break\n",
        # whisper's beam search: the candidate list is full
        "for seq in ranked:\n    if len(finished) >= max_candidates:\n        break\n    finished[seq] = 1\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        return removed_if(node, _stops_when_finished)
