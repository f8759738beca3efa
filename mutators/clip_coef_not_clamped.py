from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._context import scope_words
from ._patterns import code, words

_ONE = m.Float("1.0") | m.Integer("1") | m.Float("1.")
_CLAMP = m.Call(
    func=m.Attribute(attr=m.Name("clamp") | m.Name("clamp_max")) | m.Name("clamp"),
    args=[m.ZeroOrMore(), m.Arg(keyword=m.Name("max"), value=_ONE), m.ZeroOrMore()],
)
_MIN = m.Call(func=m.Name("min"), args=[m.Arg(keyword=None), m.Arg(keyword=None, value=_ONE)])


class ClipCoefNotClamped(Mutator):
    """The clipping coefficient ``max_norm / total_norm`` is no longer capped at 1.

    Clipping must only ever shrink gradients; without the cap, every step rescales the
    gradient to exactly ``max_norm``, so small gradients near a minimum are blown up and the
    optimizer cannot settle. It hides because the coefficient is below 1 (and correct) in the
    noisy early phase where one looks. Sites: ``clamp(x, max=1.0)`` and ``min(x, 1.0)`` of a
    clipping coefficient (its names or the function's say clip, norm or coef): a warm-up
    factor ``min(step / warmup, 1.0)`` is no clipping.
    """

    bug_id = "clip_coef_not_clamped"
    components = ("grad_clip",)
    category = Category.OPTIMIZATION
    layer = Layer.NUMERICS
    description = "drop the cap at 1 of the clipping coefficient: small gradients are scaled up"
    symptom = "the loss stops improving near the end and jitters around a plateau"
    hint = "a gradient whose norm is already below max_norm must come out unchanged"
    fix = "clip_coef = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("c = torch.clamp(max_norm / (n + 1e-6), max=1.0)\n", "c = max_norm / (n + 1e-6)\n"),
        Example("c = min(max_norm / n, 1.0)\n", "c = max_norm / n\n"),
        Example("c = (max_norm / n).clamp(max=1.0)\n", "c = (max_norm / n)\n"),
    )
    UNCHANGED = (
        "c = torch.clamp(x, max=5.0)\n",
        "c = min(a, b)\n",
        "def lr_lambda(step):\n    return min(step / warmup, 1.0)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        names = words(code(node)) | scope_words(self.context)
        if self.context.statement is not None:
            names |= words(code(self.context.statement))
        if not names & {"clip", "clipping", "norm", "coef", "coefficient", "scale"}:
            return ()
        if m.matches(node, _MIN):
            return (node.args[0].value,)
        if not m.matches(node, _CLAMP):
            return ()
        positional = [a for a in node.args if a.keyword is None]
        as_function = isinstance(node.func, cst.Name) or m.matches(
            node.func, m.Attribute(value=m.Name("torch"))
        )
        if as_function:
            return (positional[0].value,) if len(positional) == 1 else ()
        assert isinstance(node.func, cst.Attribute)
        return () if positional else (node.func.value,)
