from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutation import SiteContext

from ._llm_runtime import is_literal
from ._patterns import callee_name
from ._state import keyword, without_arg


def _feeds_a_cumsum(context: SiteContext) -> bool:
    """Whether a name the sort is assigned to is inside a ``cumsum`` of the same function (or
    module): the nucleus accumulates the sorted probabilities. A sort with no cumulative sum
    after it (a beam search keeping its best scores) is no top-p."""
    statement = context.statement
    scope = context.function or context.module
    if statement is None or scope is None:
        return True  # outside the engine: no surroundings to ask
    names = {
        n.value
        for assign in m.findall(statement, m.Assign())
        for target in (assign.targets if isinstance(assign, cst.Assign) else ())
        for n in m.findall(target.target, m.Name())
        if isinstance(n, cst.Name)
    }
    for call in m.findall(scope, m.Call()):
        if isinstance(call, cst.Call) and callee_name(call) == "cumsum":
            if any(isinstance(n, cst.Name) and n.value in names for n in m.findall(call, m.Name())):
                return True
    return False


class NucleusSortedAscending(Mutator):
    """The probabilities are sorted ascending before the nucleus is accumulated.

    ``torch.sort`` sorts ascending unless told ``descending=True``. The cumulative sum then
    starts at the least likely token, and the code written for a descending order keeps the
    long tail and removes the head: top-p samples the unlikely tokens. (Hugging Face sorts
    ascending on purpose and compares with ``1 - top_p``; that form has no ``descending=True``
    and is no site.) Sites: ``sort``/``argsort`` calls with ``descending=True``.
    """

    bug_id = "nucleus_sorted_ascending"
    components = ("sampling",)
    category = Category.OBJECTIVE
    layer = Layer.EVALUATION
    description = "sort the probabilities ascending before the top-p cumulative sum"
    symptom = "top-p sampling produces gibberish made of the least likely tokens"
    hint = "print the sorted probabilities: is the first one the largest?"
    fix = "torch.sort(logits, descending=True) before the cumulative sum"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "sorted_logits, sorted_indices = torch.sort(logits, descending=True)\n"
            "cum_probs = torch.cumsum(F.softmax(sorted_logits, dim=-1), dim=-1)\n",
            "sorted_logits, sorted_indices = torch.sort(logits)\n"
            "cum_probs = torch.cumsum(F.softmax(sorted_logits, dim=-1), dim=-1)\n",
        ),
        Example(
            "probs_sort, probs_idx = torch.sort(probs, dim=-1, descending=True)\n"
            "probs_sum = torch.cumsum(probs_sort, dim=-1)\n",
            "probs_sort, probs_idx = torch.sort(probs, dim=-1)\n"
            "probs_sum = torch.cumsum(probs_sort, dim=-1)\n",
        ),
        Example(
            "order = probs.argsort(dim=-1, descending=True)\ncum = probs.gather(-1, order).cumsum(-1)\n",
            "order = probs.argsort(dim=-1)\ncum = probs.gather(-1, order).cumsum(-1)\n",
        ),
    )
    UNCHANGED = (
        "s, i = torch.sort(scores, descending=False)\n",
        "s = sorted(xs, reverse=True)\n",
        # x-transformers' beam search keeps its best beams: no cumulative sum follows
        "scores, sort_indices = scores.sort(dim=-1, descending=True)\nscores = scores[:, :beams]\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if callee_name(node) not in ("sort", "argsort"):
            return ()
        found = keyword(node, "descending")
        if found is None or not is_literal(found[1].value, "True") or not _feeds_a_cumsum(self.context):
            return ()
        return (without_arg(node, found[0]),)
