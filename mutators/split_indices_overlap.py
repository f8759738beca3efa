from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, Rewrite, SiteContext

from ._context import code, words

#: words of a sequence that is cut into splits, and of the splits themselves
_ORDER_WORDS = frozenset(("perm", "permutation", "idx", "indices", "index", "order", "shuffled", "ids"))
_SPLIT_WORDS = frozenset(("train", "test", "val", "valid", "validation", "eval", "holdout", "dev"))


class SplitIndicesOverlap(Mutator):
    """The training slice starts one row too early and shares a row with the test slice.

    Cutting a shuffled index list by hand (``perm[:n_test]`` and ``perm[n_test - 1:]``, or
    an off-by-one from a ``round`` somewhere) puts a row in both splits; with duplicated or
    near-duplicated rows in the data the same happens without any arithmetic mistake. The
    model is then tested on examples it was trained on and the test score is flattering.
    A site is the tail ``seq[start:]`` of a split: a one-axis slice with a start and no end
    or step, where the same sequence is also cut ending at ``start`` (``seq[:start]``,
    ``seq[a:start]``) in the same function, or where the sequence is an index permutation and
    the slice is stored as a train/test/validation split. A tail alone (``img_shape[-2:]``,
    ``tokens[:, -1:]``) is no split.
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
    UNCHANGED = (
        "head = perm[:n_test]\n",
        "odd = x[1::2]\n",
        "mid = x[a:b]\n",
        "h, w = img_shape[-2:]\n",
        "tokens = tokens[:, -1:]\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement | Rewrite]:
        assert isinstance(node, cst.Slice)
        if node.lower is None or node.upper is not None or node.step is not None:
            return ()
        split = _split_tail(self.context, node)
        if split is None:
            return ()
        earlier = node.with_changes(lower=cst.BinaryOperation(node.lower, cst.Subtract(), cst.Integer("1")))
        if split:
            return (earlier,)
        return (Rewrite(earlier, "the two parts of a split overlap by one element"),)


def _split_tail(context: SiteContext, tail: cst.Slice) -> bool | None:
    """``None`` when ``tail`` cuts no split; else whether the split is one of the data (its
    names say train, test or validation)."""
    if len(context.ancestors) < 2:
        return None
    subscript = context.ancestors[1]
    if not isinstance(subscript, cst.Subscript) or len(subscript.slice) != 1:
        return None
    assert tail.lower is not None
    base, start = code(subscript.value), code(tail.lower)
    target = context.enclosing(cst.Assign)
    stored = set()
    if isinstance(target, cst.Assign):
        stored = {w for t in target.targets for w in words(code(t.target))}
    data = bool(stored & _SPLIT_WORDS) or bool(words(base) & _SPLIT_WORDS)
    scope = context.function or context.module
    if scope is not None:
        for other in m.findall(
            scope, m.Subscript(slice=[m.SubscriptElement(slice=m.Slice(upper=m.DoesNotMatch(None)))])
        ):
            assert isinstance(other, cst.Subscript)
            cut = other.slice[0].slice
            assert isinstance(cut, cst.Slice) and cut.upper is not None
            if other is not subscript and code(other.value) == base and code(cut.upper) == start:
                return data or bool(words(base) & _ORDER_WORDS)
    if words(base) & _ORDER_WORDS and stored & _SPLIT_WORDS:
        return True
    return None
