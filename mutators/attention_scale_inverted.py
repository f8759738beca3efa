from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._scale import NOT_A_SCALE, class_example, scale_site


class AttentionScaleInverted(Mutator):
    """Attention scores are multiplied by sqrt(d_k) instead of divided by it.

    A misremembered formula ("scale by sqrt(d_k)") or a sign slip in ``d_k ** -0.5``: the scores
    grow by a factor d_k compared with the right scale, so the softmax saturates even harder than
    with no scale at all, most heads attend to a single key and gradients vanish. Nothing crashes.
    Sites (see ``_scale``): ``scores / sqrt(d)``, ``scores * d ** -0.5``, ``q * self.scale`` with
    ``scale`` an inverse root of the head size, the definition ``self.scale = head_dim ** -0.5`` and
    the ``scale=`` argument of ``scaled_dot_product_attention``; never a norm's ``sqrt(var + eps)``
    nor an initialization's standard deviation.
    """

    bug_id = "attention_scale_inverted"
    components = ("attention", "gqa")
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "multiply the attention scores by sqrt(d_k) instead of dividing"
    symptom = "attention weights are one-hot from the first step; loss plateaus early"
    hint = "compare the spread of the scores before the softmax with 1; it should not grow with d_k"
    fix = "divide q @ k^T by math.sqrt(d_k) (or multiply by d_k ** -0.5)"
    node_types = (cst.BinaryOperation, cst.Arg)
    EXAMPLES = (
        Example("s = q @ k.T / math.sqrt(d_k)\n", "s = q @ k.T * math.sqrt(d_k)\n"),
        Example("s = torch.matmul(q, k) * d ** -0.5\n", "s = torch.matmul(q, k) * d ** 0.5\n"),
        Example(
            "att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))\n",
            "att = (q @ k.transpose(-2, -1)) * (1.0 * math.sqrt(k.size(-1)))\n",
        ),
        Example("self.scaling = self.head_dim**-0.5\n", "self.scaling = self.head_dim**0.5\n"),
        Example(
            "y = F.scaled_dot_product_attention(q, k, v, scale=self.scale)\n",
            "y = F.scaled_dot_product_attention(q, k, v, scale=1 / self.scale)\n",
        ),
        class_example("q / self.scale", site=1),
    )
    UNCHANGED = (*NOT_A_SCALE, "y = x * d ** 0.5\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        site = scale_site(self.context, node)
        return () if site is None or site.inverted is None else (site.inverted,)
