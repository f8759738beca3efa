from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._numerics import atom_code, is_exp, operand, with_operand
from ._patterns import dotted_name

#: modules whose exp takes Python or NumPy numbers, which have no .half(): a crash, not this bug
_SCALAR_MODULES = ("math", "np", "numpy", "cmath")


class Float16Overflow(Mutator):
    """An exponential is computed in float16 and cast back.

    Hand-rolled mixed precision (``x.half()`` to save memory, a kernel that only takes half)
    puts exp in a format whose largest finite value is 65504: ``exp`` of anything above
    about 11 is inf, and ``-1e9`` fill values overflow outright. Behind a max shift the
    argument is at most 0, so nothing overflows, but float16 keeps only about three
    significant digits: probabilities and losses are off by 1e-3 relative, enough to make
    training noisy and to break a comparison with the float32 computation. Without the shift
    (or combined with ``softmax_no_max_subtraction``) the result is inf and then NaN. Sites:
    ``torch.exp(x)`` and ``x.exp()``; ``math.exp`` and ``np.exp`` take numbers that have no
    ``.half()``, where the rewrite could only crash.
    """

    bug_id = "float16_overflow"
    components = ("numerics",)
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "exp computed in float16 (manual half precision) and cast back to float32"
    symptom = "NaN or inf under mixed precision; losses slightly off and noisy otherwise"
    hint = "check the dtype of every intermediate between the logits and the loss"
    fix = "keep exp, log and reductions in float32 (autocast does this for softmax and losses)"
    loud = False
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("e = torch.exp(x - m)\n", "e = torch.exp((x - m).half()).float()\n"),
        Example("e = (x - m).exp()\n", "e = (x - m).half().exp().float()\n"),
        Example(
            "y = torch.log1p(torch.exp(-x.abs()))\n",
            "y = torch.log1p(torch.exp((-x.abs()).half()).float())\n",
        ),
    )
    UNCHANGED = (
        "e = torch.exp(x.half()).float()\n",
        "e = x.half().exp()\n",
        "y = torch.log(x)\n",
        "ppl = math.exp(val_loss)\n",
        "w = np.exp(-d)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if not is_exp(node):
            return ()
        if isinstance(node.func, cst.Attribute) and dotted_name(node.func.value) in _SCALAR_MODULES:
            return ()
        argument = operand(node)
        assert argument is not None
        if "half()" in atom_code(argument) or "float16" in atom_code(argument):
            return ()  # already in half precision: that is a choice, not this bug
        halved = cst.parse_expression(f"{atom_code(argument)}.half()")
        return (cst.Call(func=cst.Attribute(value=with_operand(node, halved), attr=cst.Name("float"))),)
