from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import (
    mentions_word,
    removed_if,
    same_code,
    single_assign,
    without_parens,
)

_SLICE_FROM_ONE = m.SubscriptElement(slice=m.Slice(lower=m.Integer("1"), upper=None, step=None))
_SLICE_TO_LAST = m.SubscriptElement(
    slice=m.Slice(
        lower=None, upper=m.UnaryOperation(operator=m.Minus(), expression=m.Integer("1")), step=None
    )
)


def _shifted(value: cst.BaseExpression) -> cst.Subscript | None:
    """``x[..., :-1]`` of ``x[..., :-1]`` or ``x[..., :-1].clone()``."""
    if m.matches(value, m.Call(func=m.Attribute(attr=m.Name("clone")), args=[])):
        assert isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
        value = value.func.value
    if isinstance(value, cst.Subscript) and m.matches(value.slice[-1], _SLICE_TO_LAST):
        return value
    return None


def _is_shift(statement: cst.BaseStatement) -> bool:
    """``remove[..., 1:] = remove[..., :-1].clone()``: the nucleus mask shifted right by one."""
    assigned = single_assign(statement)
    if assigned is None:
        return False
    target, source = assigned[0], _shifted(assigned[1])
    return (
        isinstance(target, cst.Subscript)
        and m.matches(target.slice[-1], _SLICE_FROM_ONE)
        and source is not None
        and same_code(target.value, source.value)
    )


class NucleusCutOneTooEarly(Mutator):
    """Top-p drops the token that carries the cumulative probability over ``top_p``.

    The nucleus is the fewest tokens whose probability *reaches* ``top_p``, so the token that
    crosses the threshold belongs to it. Marking every token whose cumulative probability
    exceeds ``top_p`` removes that token as well, unless the mask is shifted right by one (or
    the probability before each token is compared instead). The nucleus is one token short:
    with ``top_p=0.9`` the kept mass may be far below 0.9, and a two-way choice becomes greedy.
    Sites: the shift ``remove[..., 1:] = remove[..., :-1].clone()`` (removed) and a comparison
    of ``cumulative - probs`` with ``top_p`` (the subtraction dropped).
    """

    bug_id = "nucleus_cut_one_too_early"
    components = ("sampling",)
    category = Category.OBJECTIVE
    layer = Layer.EVALUATION
    description = "top-p removes the token that crosses top_p: the nucleus is one token short"
    symptom = "top-p sampling is less diverse than asked; near-ties become greedy"
    hint = "with probabilities 0.6 and 0.4 and top_p=0.9, are both tokens kept?"
    fix = "shift the removal mask right by one (or compare the mass before each token with top_p)"
    node_types = (cst.SimpleStatementLine, cst.Comparison)
    EXAMPLES = (
        Example(
            "def f(cumulative_probs, top_p):\n"
            "    sorted_indices_to_remove = cumulative_probs > top_p\n"
            "    sorted_indices_to_remove[..., 1:] = sorted_indices_to_remove[..., :-1].clone()\n"
            "    sorted_indices_to_remove[..., 0] = 0\n"
            "    return sorted_indices_to_remove\n",
            "def f(cumulative_probs, top_p):\n"
            "    sorted_indices_to_remove = cumulative_probs > top_p\n"
            "    sorted_indices_to_remove[..., 0] = 0\n"
            "    return sorted_indices_to_remove\n",
        ),
        Example(
            "mask = probs_sum - probs_sort > p\n",
            "mask = probs_sum > p\n",
        ),
    )
    UNCHANGED = (
        "def f(x):\n    x[:, 1:] = y[:, :-1]\n    return x\n",
        "keep = cumulative > top_p\n",
        "d = a - b > threshold\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.SimpleStatementLine):
            return removed_if(node, _is_shift)
        assert isinstance(node, cst.Comparison)
        left = without_parens(node.left)
        if len(node.comparisons) != 1 or not m.matches(left, m.BinaryOperation(operator=m.Subtract())):
            return ()
        assert isinstance(left, cst.BinaryOperation)
        if not mentions_word(left.left, "cum", "sum") or not mentions_word(
            node.comparisons[0].comparator, "p"
        ):
            return ()
        if not isinstance(node.comparisons[0].operator, (cst.GreaterThan, cst.GreaterThanEqual)):
            return ()
        return (node.with_changes(left=left.left),)
