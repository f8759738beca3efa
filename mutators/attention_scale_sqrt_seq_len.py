from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_layers import rescaled_scores, size_call


class AttentionScaleSqrtSeqLen(Mutator):
    """Attention scores are divided by the square root of the sequence length instead of the head size.

    ``q @ k.T / sqrt(d_k)`` keeps the scores' variance at 1 whatever the head size; the length
    axis (``size(-2)`` where ``size(-1)`` belongs, or ``T`` read from ``B, T, C = x.size()``)
    scales them by something unrelated. With short sequences the softmax is too peaked, with
    long ones too flat, and the model's behaviour changes with the length of the input: at
    generation time, one token at a time, the scores are not scaled at all. Sites: scores of a
    matmul divided by (or multiplied by the inverse of) a square root; the rooted size becomes
    the query's length ``q.size(-2)``.
    """

    bug_id = "attention_scale_sqrt_seq_len"
    components = ("attention", "gqa")
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "attention scores scaled by sqrt(sequence length) instead of sqrt(head_dim)"
    symptom = (
        "quality changes with the input length; cached generation (T=1) behaves unlike the training pass"
    )
    hint = "the scale must not change when the sequence gets longer: print it for T=1 and T=100"
    fix = "scores = q @ k.transpose(-2, -1) / math.sqrt(head_dim)"
    node_types = (cst.BinaryOperation,)
    EXAMPLES = (
        Example(
            "scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(self.d_k)\n",
            "scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.size(-2))\n",
        ),
        Example(
            "att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))\n",
            "att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.size(-2)))\n",
        ),
        Example(
            "attn_weights = torch.matmul(query, key.transpose(2, 3)) * self.head_dim ** -0.5\n",
            "attn_weights = torch.matmul(query, key.transpose(2, 3)) * query.size(-2) ** -0.5\n",
        ),
    )
    UNCHANGED = (
        "y = (x - mean) / torch.sqrt(var + eps)\n",
        "s = q @ k.T / math.sqrt(q.size(-2))\n",
        "s = (a + b) / math.sqrt(d)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        return rescaled_scores(node, lambda query: size_call(query, -2))
