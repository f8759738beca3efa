from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, SiteContext

from ._patterns import callee_name, code, words

#: words of an index that reorders rows (a permutation), not one that selects them (a mask)
_ORDER_WORDS = frozenset(("perm", "permutation", "order", "shuffle", "shuffled"))


class FeaturesShuffledWithoutLabels(Mutator):
    """The inputs are shuffled and the labels are not: every example gets someone else's label.

    Shuffling ``X`` and ``y`` on separate lines, with separate permutations, or forgetting
    the labels altogether breaks the pairing between an input and its target. The model
    trains on noise: training loss stays near chance and validation accuracy is that of
    guessing. A site is a tuple of two or more subscripts with the same index
    (``X[perm], y[perm]``), an index that reorders all rows (a ``randperm``, or a name that says
    perm, order or shuffle): the last one loses its index. A boolean mask or a subset of indices
    (``train_idx``) selects fewer rows, and inputs selected without their labels only fail on
    the lengths: no site. Separate
    statements cannot be paired from the text.
    """

    bug_id = "features_shuffled_without_labels"
    components = ("data",)
    category = Category.DATA
    layer = Layer.DATA
    description = "shuffle the inputs but not their labels"
    symptom = "loss is flat near chance level; accuracy no better than guessing"
    hint = "print a few (input, label) pairs after the split and check they still belong together"
    fix = "index features and labels with the same permutation: X, y = X[perm], y[perm]"
    node_types = (cst.Tuple,)
    EXAMPLES = (
        Example("X, y = X[perm], y[perm]\n", "X, y = X[perm], y\n"),
        Example("a, b, c = a[order], b[order], c[order]\n", "a, b, c = a[order], b[order], c\n"),
        Example(
            "def shuffle(x, y):\n    p = torch.randperm(len(x))\n    return x[p], y[p]\n",
            "def shuffle(x, y):\n    p = torch.randperm(len(x))\n    return x[p], y\n",
        ),
    )
    UNCHANGED = (
        "a, b = X[:k], X[k:]\n",
        "pair = (x[i], y[j])\n",
        "t = (x[i],)\n",
        "output, target = output[mask], target[mask]\n",
        "pair = (features[train_idx], labels[train_idx])\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Tuple)
        items = [element.value for element in node.elements]
        subscripts = [item for item in items if isinstance(item, cst.Subscript) and len(item.slice) == 1]
        if len(items) < 2 or len(subscripts) != len(items):
            return ()
        indices = [subscript.slice[0].slice for subscript in subscripts]
        if not all(isinstance(index, cst.Index) for index in indices):
            return ()
        if len({cst.Module([]).code_for_node(index) for index in indices}) != 1:
            return ()
        first = indices[0]
        assert isinstance(first, cst.Index)
        if not _reorders(self.context, first.value):
            return ()
        last = node.elements[-1]
        elements = [*node.elements[:-1], last.with_changes(value=subscripts[-1].value)]
        return (node.with_changes(elements=elements),)


def _reorders(context: SiteContext, index: cst.BaseExpression) -> bool:
    """Whether ``index`` is a permutation of the rows: named as one, or drawn by ``randperm``."""
    if words(code(index)) & _ORDER_WORDS:
        return True
    source = context.value_of(index) if isinstance(index, cst.Name) else index
    return isinstance(source, cst.Call) and callee_name(source) in ("randperm", "argsort", "permutation")
