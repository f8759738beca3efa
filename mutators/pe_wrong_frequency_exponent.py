from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import argument, callee_name, int_literal


def _is_log_of_literal(expr: cst.BaseExpression) -> bool:
    return (
        isinstance(expr, cst.Call)
        and callee_name(expr) == "log"
        and len(expr.args) == 1
        and isinstance(expr.args[0].value, (cst.Integer, cst.Float))
    )


class PeWrongFrequencyExponent(Mutator):
    """The frequencies of the positional table are computed with a wrong exponent.

    The closed form is ``1 / 10000^(2i / d_model)``: in log space
    ``exp(arange(0, d, 2) * (-log(10000) / d))``. Two slips keep every shape intact: dropping
    the minus sign (``exp(+...)``, frequencies that grow to ``10000`` radians per position,
    aliasing every position into noise), and counting ``i`` instead of ``2i``
    (``arange(0, d // 2)``, wavelengths that only reach ``sqrt(10000)`` so far positions
    collide). Sites: a negated ``log(<number>)`` and an ``arange(0, n, 2)``.
    """

    bug_id = "pe_wrong_frequency_exponent"
    components = ("positional_encoding", "rope")
    category = Category.DATA
    layer = Layer.DATA
    description = "wrong exponent in the positional frequencies (sign flipped or i instead of 2i)"
    symptom = "the model ignores word order or degrades on long inputs; far positions look alike"
    hint = "plot pe[0, :, 2i] for a few i: wavelengths must grow from 2*pi to 10000*2*pi"
    fix = "div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))"
    node_types = (cst.UnaryOperation, cst.Call)
    EXAMPLES = (
        Example(
            "d = torch.exp(torch.arange(0, n, 2) * (-math.log(10000.0) / n))\n",
            "d = torch.exp(torch.arange(0, n, 2) * (math.log(10000.0) / n))\n",
            site=1,
        ),
        Example(
            "d = torch.exp(torch.arange(0, n, 2) * (-math.log(10000.0) / n))\n",
            "d = torch.exp(torch.arange(0, n // 2) * (-math.log(10000.0) / n))\n",
            site=0,
        ),
        Example(
            "f = 1.0 / 10000 ** (torch.arange(0, d, 2, dtype=torch.float32) / d)\n",
            "f = 1.0 / 10000 ** (torch.arange(0, d // 2, dtype=torch.float32) / d)\n",
        ),
    )
    UNCHANGED = ("p = torch.arange(max_len)\n", "y = -math.log(x)\n", "i = torch.arange(0, n, 3)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.UnaryOperation):
            if isinstance(node.operator, cst.Minus) and _is_log_of_literal(node.expression):
                return (node.expression.with_changes(lpar=node.lpar, rpar=node.rpar),)
            return ()
        assert isinstance(node, cst.Call)
        if callee_name(node) != "arange" or len(node.args) < 3:
            return ()
        start, stop, step = node.args[:3]
        if any(a.keyword is not None or a.star for a in (start, stop, step)):
            return ()
        if (
            int_literal(start.value) != 0
            or int_literal(step.value) != 2
            or argument(node, keyword="step", position=None)
        ):
            return ()
        half = cst.BinaryOperation(left=stop.value, operator=cst.FloorDivide(), right=cst.Integer("2"))
        args = [start, stop.with_changes(value=half), *node.args[3:]]
        if len(node.args) == 3:
            args[1] = args[1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return (node.with_changes(args=args),)
