from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_layers import root_mean_square_statistics


class RmsnormMeanInsteadOfRms(Mutator):
    """RMSNorm divides by the mean of the row instead of its root mean square.

    ``x * rsqrt(mean(x**2) + eps)`` becomes ``x * rsqrt(mean(x)**2 + eps)``: the square of the
    mean where the mean of the squares belongs, a slip of the order of two operations. The result
    is still scale invariant (multiply a row by 10 and the output does not move), so a check of
    that invariant passes; but a row whose mean is near zero is blown up by orders of magnitude
    and the sign of the mean flips nothing, so activations explode on centred rows. Sites: a mean
    of squares of a plain tensor (``x.pow(2).mean(...)``, ``torch.mean(x * x, ...)``,
    ``hidden_states.square().mean(...)``); a mean of squared differences, or a mean of squares
    from which a squared mean is subtracted, is a variance or an error, not a site.
    """

    bug_id = "rmsnorm_mean_instead_of_rms"
    components = ("rmsnorm",)
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = (
        "RMSNorm divides by the (absolute) mean: the square of the mean, not the mean of the squares"
    )
    symptom = "activations explode on rows with a mean near zero; loss spikes to NaN early in training"
    hint = "compare mean(x**2) and mean(x)**2 on a centred row"
    fix = "variance = x.pow(2).mean(-1, keepdim=True); x * torch.rsqrt(variance + eps)"
    node_types = (cst.SimpleStatementLine,)
    EXAMPLES = (
        Example(
            "variance = hidden_states.pow(2).mean(-1, keepdim=True)\n",
            "variance = hidden_states.mean(-1, keepdim=True).pow(2)\n",
        ),
        Example(
            "y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)\n",
            "y = x * torch.rsqrt(x.mean(-1, keepdim=True).pow(2) + self.eps)\n",
        ),
        Example(
            "norm_x = torch.mean(x * x, dim=self.dim, keepdim=True)\n",
            "norm_x = torch.mean(x, dim=self.dim, keepdim=True).pow(2)\n",
        ),
    )
    UNCHANGED = (
        "var = ((x - mu) ** 2).mean(-1, keepdim=True)\n",
        "loss = (pred - target).pow(2).mean()\n",
        "m = x.mean(-1, keepdim=True)\n",
        "s = ((x * x).mean(dim=1, keepdim=True) - (u * u)).clamp(0)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        alternatives: list[Replacement] = []
        for call, plain_mean in root_mean_square_statistics(node):
            squared_mean = cst.Call(
                func=cst.Attribute(value=plain_mean, attr=cst.Name("pow")), args=[cst.Arg(cst.Integer("2"))]
            )
            alternatives.append(node.deep_replace(call, squared_mean))
        return alternatives
