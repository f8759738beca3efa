from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import callee_name

_SPREADS = ("var", "std", "var_mean", "std_mean")


class UnbiasedVariance(Mutator):
    """The biased (population) variance becomes the unbiased (sample) one.

    ``torch.var`` and ``torch.std`` divide by ``n - 1`` unless told otherwise, while layer
    norm and a standard scaler divide by ``n``: ``unbiased=False`` or ``correction=0`` is
    easy to drop when code is ported from NumPy (whose default is the opposite). Outputs are
    off by a factor ``sqrt(n / (n - 1))``: large for narrow layers and small training sets,
    invisible for wide ones, so it passes casual checks. A site is a var/std call with
    ``unbiased=False`` or ``correction=0``.
    """

    bug_id = "unbiased_variance"
    components = ("normalization", "data")
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "use the unbiased (n - 1) variance where the population variance belongs"
    symptom = "outputs slightly off from the library's LayerNorm / StandardScaler; worse for small n"
    hint = "does the variance divide by n or by n - 1? torch's default is n - 1"
    fix = "pass correction=0 (or unbiased=False) to var/std"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("v = x.var(dim=-1, unbiased=False)\n", "v = x.var(dim=-1, unbiased=True)\n"),
        Example("s = torch.std(x, 0, correction=0)\n", "s = torch.std(x, 0, correction=1)\n"),
    )
    UNCHANGED = ("v = x.var(dim=-1)\n", "s = x.std(0, correction=1)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if callee_name(node) not in _SPREADS:
            return ()
        for i, arg in enumerate(node.args):
            if m.matches(arg, m.Arg(keyword=m.Name("unbiased"), value=m.Name("False"))):
                return (_with_value(node, i, cst.Name("True")),)
            if m.matches(arg, m.Arg(keyword=m.Name("correction"), value=m.Integer("0"))):
                return (_with_value(node, i, cst.Integer("1")),)
        return ()


def _with_value(call: cst.Call, index: int, value: cst.BaseExpression) -> cst.Call:
    args = list(call.args)
    args[index] = args[index].with_changes(value=value)
    return call.with_changes(args=args)
