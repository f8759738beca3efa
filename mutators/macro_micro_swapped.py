from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

_SWAP = {"macro": "micro", "micro": "macro"}


class MacroMicroSwapped(Mutator):
    """The branches for macro and micro averaging are swapped.

    Micro F1 pools the counts of all classes (for single-label classification it equals
    accuracy); macro F1 averages the per-class scores, so a rare class that is never
    predicted costs as much as a frequent one. Swapped, an imbalanced problem reports the
    flattering micro number under the macro name, and the minority-class failure it was
    supposed to expose goes unseen. The site is a comparison with the string "macro" or
    "micro", which gets the other one.
    """

    bug_id = "macro_micro_swapped"
    components = ("metrics",)
    category = Category.EVALUATION
    layer = Layer.EVALUATION
    description = "macro and micro averaging swapped in the F1 score"
    symptom = "macro F1 equals accuracy; a never-predicted minority class does not lower it"
    hint = "compute both averages on an imbalanced toy example by hand"
    fix = "macro: mean of per-class F1 over present classes; micro: F1 of the pooled counts"
    node_types = (cst.Comparison,)
    EXAMPLES = (
        Example('if average == "macro":\n    pass\n', 'if average == "micro":\n    pass\n'),
        Example("ok = 'micro' != mode\n", "ok = 'macro' != mode\n"),
    )
    UNCHANGED = ('if average == "weighted":\n    pass\n', 'name = "macro"\n')

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Comparison)
        if len(node.comparisons) != 1:
            return ()
        target = node.comparisons[0]
        swapped = _swapped(node.left)
        if swapped is not None:
            return (node.with_changes(left=swapped),)
        swapped = _swapped(target.comparator)
        if swapped is not None:
            return (node.with_changes(comparisons=[target.with_changes(comparator=swapped)]),)
        return ()


def _swapped(expr: cst.BaseExpression) -> cst.SimpleString | None:
    if not isinstance(expr, cst.SimpleString) or expr.prefix:
        return None
    other = _SWAP.get(expr.raw_value)
    return None if other is None else expr.with_changes(value=f"{expr.quote}{other}{expr.quote}")
