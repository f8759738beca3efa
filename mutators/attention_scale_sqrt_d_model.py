from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_layers import rescaled_scores, size_call


class AttentionScaleSqrtDModel(Mutator):
    """Attention scores are divided by the square root of the model width instead of the head size.

    The scores of one head are dot products over ``head_dim`` features, so ``sqrt(head_dim)``
    normalizes them; ``sqrt(d_model)`` (the paper's single-head formula kept after splitting
    into heads, or ``C`` from ``B, T, C = x.size()``) divides by ``sqrt(num_heads)`` too much.
    The softmax is too flat, attention is close to uniform at initialization and learns slowly;
    nothing crashes and a one-head test cannot tell. Sites: scores of a matmul of ``(B, H, T,
    head_dim)`` queries divided by a square root; the rooted size becomes ``H * head_dim``
    (``q.size(1) * q.size(-1)``).
    """

    bug_id = "attention_scale_sqrt_d_model"
    components = ("attention", "gqa")
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "attention scores scaled by sqrt(d_model) instead of sqrt(head_dim)"
    symptom = "attention stays nearly uniform and learns slowly; the effect grows with the number of heads"
    hint = "the dot products are over one head's features: which width's square root normalizes them?"
    fix = "scores = q @ k.transpose(-2, -1) / math.sqrt(d_model // num_heads)"
    node_types = (cst.BinaryOperation,)
    EXAMPLES = (
        Example(
            "scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.d_k)\n",
            "scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.size(1) * q.size(-1))\n",
        ),
        Example(
            "att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))\n",
            "att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.size(1) * q.size(-1)))\n",
        ),
        Example(
            "scores = torch.matmul(xq, keys.transpose(2, 3)) / self.head_dim ** 0.5\n",
            "scores = torch.matmul(xq, keys.transpose(2, 3)) / (xq.size(1) * xq.size(-1)) ** 0.5\n",
        ),
    )
    UNCHANGED = ("y = (x - mean) / torch.sqrt(var + eps)\n", "s = q @ k.T / 8\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        return rescaled_scores(
            node, lambda query: cst.BinaryOperation(size_call(query, 1), cst.Multiply(), size_call(query, -1))
        )
