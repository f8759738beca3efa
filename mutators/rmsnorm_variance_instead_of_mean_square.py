from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_layers import root_mean_square_statistics


class RmsnormVarianceInsteadOfMeanSquare(Mutator):
    """RMSNorm centres the row: the variance where the mean square belongs.

    Written from a LayerNorm habit, ``x * rsqrt(var(x) + eps)`` normalizes by the standard
    deviation around the row's mean, while RMSNorm divides by the root mean square around zero
    and never subtracts the mean (that is what saves its compute and what Llama's weights were
    trained with). Outputs look normalized and the model trains, but rows with a large mean are
    scaled up far beyond unit size and a checkpoint from correct code gives different results.
    Sites: a mean of squares of a plain tensor; it becomes the population variance of the
    tensor over the same axis.
    """

    bug_id = "rmsnorm_variance_instead_of_mean_square"
    components = ("rmsnorm",)
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = (
        "RMSNorm divides by the standard deviation (centred, LayerNorm-style), not the root mean square"
    )
    symptom = "a Llama checkpoint loaded into the model is degraded; rows with a large mean get huge outputs"
    hint = "RMSNorm never subtracts the mean: is the statistic mean(x**2) or var(x)?"
    fix = "mean_square = x.pow(2).mean(-1, keepdim=True)"
    node_types = (cst.SimpleStatementLine,)
    EXAMPLES = (
        Example(
            "variance = hidden_states.pow(2).mean(-1, keepdim=True)\n",
            "variance = hidden_states.var(-1, keepdim=True, correction=0)\n",
        ),
        Example(
            "ms = torch.mean(x.float() ** 2, dim=-1, keepdim=True)\n",
            "ms = torch.var(x.float(), dim=-1, keepdim=True, correction=0)\n",
        ),
    )
    UNCHANGED = ("var = ((x - mu) ** 2).mean(-1, keepdim=True)\n", "m = x.var(-1)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        alternatives: list[Replacement] = []
        for call, plain_mean in root_mean_square_statistics(node):
            assert isinstance(plain_mean.func, cst.Attribute)
            population = cst.Arg(keyword=cst.Name("correction"), value=cst.Integer("0"), equal=_EQUAL)
            variance = plain_mean.with_changes(
                func=plain_mean.func.with_changes(attr=cst.Name("var")), args=[*plain_mean.args, population]
            )
            alternatives.append(node.deep_replace(call, variance))
        return alternatives


_EQUAL = cst.AssignEqual(
    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
)
