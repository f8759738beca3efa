from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import callee_name


class DuplicatesAcrossSplits(Mutator):
    """The row order is sampled with replacement: rows repeat, some in both splits, others nowhere.

    ``torch.randint(n, (n,))`` looks like a shuffle and has the right shape, but it is a
    bootstrap sample: about a third of the rows never appear, others appear twice, often
    once in training and once in the test split. The test score is measured partly on
    training examples. A site is a ``randperm(n, ...)`` call; it becomes ``randint(n, (n,), ...)``.
    """

    bug_id = "duplicates_across_splits"
    components = ("data", "collate")
    category = Category.DATA
    layer = Layer.DATA
    description = "shuffle with randint (with replacement) instead of randperm"
    symptom = "test accuracy suspiciously high; the same example appears in train and test"
    hint = "count the unique row indices of both splits together: are there n of them?"
    fix = "draw a permutation (torch.randperm) so every row is used exactly once"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "order = torch.randperm(n, generator=gen)\n",
            "order = torch.randint(n, (n,), generator=gen)\n",
        ),
    )
    UNCHANGED = ("order = torch.randint(n, (n,))\n", "order = torch.arange(n)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if callee_name(node) != "randperm" or not node.args or node.args[0].keyword is not None:
            return ()
        size = node.args[0].value
        shape = cst.Tuple([cst.Element(size)])
        func = node.func
        randint = (
            func.with_changes(attr=cst.Name("randint"))
            if isinstance(func, cst.Attribute)
            else cst.Name("randint")
        )
        args = [node.args[0], cst.Arg(shape, comma=node.args[0].comma), *node.args[1:]]
        args[0] = args[0].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        if len(args) == 2:
            args[1] = args[1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return (node.with_changes(func=randint, args=args),)
