from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement


class FeaturesShuffledWithoutLabels(Mutator):
    """The inputs are shuffled and the labels are not: every example gets someone else's label.

    Shuffling ``X`` and ``y`` on separate lines, with separate permutations, or forgetting
    the labels altogether breaks the pairing between an input and its target. The model
    trains on noise: training loss stays near chance and validation accuracy is that of
    guessing. A site is a tuple of two or more subscripts with the same index
    (``X[perm], y[perm]``): the last one loses its index. Separate statements cannot be
    paired from the text.
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
        Example("a, b, c = a[i], b[i], c[i]\n", "a, b, c = a[i], b[i], c\n"),
    )
    UNCHANGED = ("a, b = X[:k], X[k:]\n", "pair = (x[i], y[j])\n", "t = (x[i],)\n")

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
        last = node.elements[-1]
        elements = [*node.elements[:-1], last.with_changes(value=subscripts[-1].value)]
        return (node.with_changes(elements=elements),)
