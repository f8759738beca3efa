from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement


class SplitIndicesOverlap(Mutator):
    """The training slice starts one row too early and shares a row with the test slice.

    Cutting a shuffled index list by hand (``perm[:n_test]`` and ``perm[n_test - 1:]``, or
    an off-by-one from a ``round`` somewhere) puts a row in both splits; with duplicated or
    near-duplicated rows in the data the same happens without any arithmetic mistake. The
    model is then tested on examples it was trained on and the test score is flattering.
    A site is a slice ``[start:]`` with a start and no end or step: the tail of a split.
    """

    bug_id = "split_indices_overlap"
    components = ("data",)
    category = Category.DATA
    layer = Layer.DATA
    description = "training and test slices overlap by one row"
    symptom = "test accuracy suspiciously high; a test example also appears in training"
    hint = "are the train and test index sets disjoint? intersect them"
    fix = "cut the permutation once: test = perm[:n_test], train = perm[n_test:]"
    node_types = (cst.Slice,)
    EXAMPLES = (
        Example("train = perm[n_test:]\n", "train = perm[n_test - 1:]\n"),
        Example("a, b = X[:k], X[k:]\n", "a, b = X[:k], X[k - 1:]\n"),
    )
    UNCHANGED = ("head = perm[:n_test]\n", "odd = x[1::2]\n", "mid = x[a:b]\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Slice)
        if node.lower is None or node.upper is not None or node.step is not None:
            return ()
        earlier = cst.BinaryOperation(node.lower, cst.Subtract(), cst.Integer("1"))
        return (node.with_changes(lower=earlier),)
