from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import callee_name, dotted_name
from ._state import keyword, with_keyword


class TopKKeepsSmallest(Mutator):
    """Top-k filtering takes the k smallest logits (``topk(..., largest=False)``).

    Written with the values of ``topk`` as the threshold (Hugging Face's ``TopKLogitsWarper``,
    gpt-fast's pivot), the k-th smallest logit becomes the cut: all but k - 1 tokens pass and
    top-k filters almost nothing. Written with its indices (``scatter`` of the kept logits), only
    the k least likely tokens are left. Either way generations wander off. Sites: ``topk``
    calls that do not say ``largest=``.
    """

    bug_id = "top_k_keeps_smallest"
    components = ("sampling",)
    category = Category.OBJECTIVE
    layer = Layer.EVALUATION
    description = "top-k takes the smallest logits (largest=False)"
    symptom = "top-k sampling is as random as no filter, or only produces unlikely tokens"
    hint = "count the finite logits after the top-k filter: exactly k?"
    fix = "torch.topk(logits, k) keeps the largest (largest=True is the default)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "indices_to_remove = scores < torch.topk(scores, top_k)[0][..., -1, None]\n",
            "indices_to_remove = scores < torch.topk(scores, top_k, largest=False)[0][..., -1, None]\n",
        ),
        Example(
            "v, _ = torch.topk(logits, min(top_k, logits.size(-1)))\n",
            "v, _ = torch.topk(logits, min(top_k, logits.size(-1)), largest=False)\n",
        ),
        Example(
            "kth = logits.topk(k, dim=-1).values[:, -1:]\n",
            "kth = logits.topk(k, dim=-1, largest=False).values[:, -1:]\n",
        ),
    )
    UNCHANGED = ("v, i = torch.topk(x, k, largest=False)\n", "v = torch.sort(x, descending=True)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if callee_name(node) != "topk" or keyword(node, "largest") is not None:
            return ()
        positional = len([a for a in node.args if a.keyword is None and not a.star])
        method = not isinstance(node.func, cst.Attribute) or dotted_name(node.func.value) != "torch"
        if positional >= (3 if method and isinstance(node.func, cst.Attribute) else 4):  # largest by position
            return ()
        return (with_keyword(node, "largest", cst.Name("False")),)
