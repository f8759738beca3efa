from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, Rewrite

from ._scale import NOT_A_SCALE, class_example, scale_site


class AttentionScaleDropped(Mutator):
    """Attention scores are no longer divided by sqrt(d_k).

    The dot product of two random d_k-dimensional vectors has variance d_k, so unscaled scores grow
    with the head size and push the softmax into saturation: nearly one-hot weights and vanishing
    gradients. Training still runs, only slower and worse, which is why the line is easy to lose in
    a refactor. Sites (see ``_scale``): ``scores / sqrt(d)``, ``scores * d ** -0.5``, ``q *
    self.scale`` with ``scale`` an inverse root of the head size, the definition ``self.scale =
    head_dim ** -0.5`` and the ``scale=`` argument of ``scaled_dot_product_attention``; never a
    norm's ``sqrt(var + eps)`` nor an initialization's standard deviation.
    """

    bug_id = "attention_scale_dropped"
    components = ("attention", "gqa")
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "drop the 1/sqrt(d_k) scaling of the attention scores"
    symptom = "attention weights are nearly one-hot; loss falls slowly and plateaus"
    hint = "look at the magnitude of the scores right before the softmax"
    fix = "divide q @ k^T by math.sqrt(d_k) (or multiply by d_k ** -0.5)"
    node_types = (cst.BinaryOperation, cst.Arg)
    EXAMPLES = (
        Example("s = q @ k.T / math.sqrt(d_k)\n", "s = q @ k.T\n"),
        Example("s = torch.matmul(q, k) * d ** -0.5\n", "s = torch.matmul(q, k)\n"),
        Example("self.scaling = self.head_dim**-0.5\n", "self.scaling = 1.0\n"),
        Example(
            "y = F.scaled_dot_product_attention(q, k, v, scale=self.scale)\n",
            "y = F.scaled_dot_product_attention(q, k, v, scale=1.0)\n",
        ),
        class_example("q", site=1),
    )
    UNCHANGED = NOT_A_SCALE

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement | Rewrite]:
        site = scale_site(self.context, node)
        if site is None:
            return ()
        if site.dropped_description is not None:
            return (Rewrite(site.dropped, site.dropped_description),)
        return (site.dropped,)
