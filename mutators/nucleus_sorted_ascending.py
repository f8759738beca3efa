from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._llm_runtime import is_literal
from pytest_mlbugs.mutators._patterns import callee_name
from pytest_mlbugs.mutators._state import keyword, without_arg


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
            "sorted_logits, sorted_indices = torch.sort(logits, descending=True)\n",
            "sorted_logits, sorted_indices = torch.sort(logits)\n",
        ),
        Example(
            "probs_sort, probs_idx = torch.sort(probs, dim=-1, descending=True)\n",
            "probs_sort, probs_idx = torch.sort(probs, dim=-1)\n",
        ),
        Example("order = scores.argsort(dim=-1, descending=True)\n", "order = scores.argsort(dim=-1)\n"),
    )
    UNCHANGED = ("s, i = torch.sort(scores, descending=False)\n", "s = sorted(xs, reverse=True)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if callee_name(node) not in ("sort", "argsort"):
            return ()
        found = keyword(node, "descending")
        if found is None or not is_literal(found[1].value, "True"):
            return ()
        return (without_arg(node, found[0]),)
