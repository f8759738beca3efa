from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import replace_nodes
from ._llm_layers import next_token_shift
from ._patterns import callee_name

_FULL_SUM = m.Call(func=m.Attribute(attr=m.Name("sum")), args=[])


def _per_row(total: cst.Call) -> cst.Call:
    """``x.sum()`` -> ``x.sum(-1)``."""
    return total.with_changes(args=[cst.Arg(cst.UnaryOperation(cst.Minus(), cst.Integer("1")))])


class LmLossMeanOfRowMeans(Mutator):
    """The language-model loss averages each sequence first, then averages the sequences.

    The loss is one mean over every counted token of the batch. Dividing each row's summed loss
    by that row's count and then averaging rows weighs a 3-token answer as much as a 300-token
    one: the tokens of short rows count a hundred times more, the loss depends on how the batch
    was packed, and it no longer matches ``F.cross_entropy`` on the flattened tokens (or
    gradient-accumulated training on other batch sizes). Sites: a masked sum divided by a count
    (``(nll * mask).sum() / mask.sum()``) in a function that shifts sequences; it becomes the
    mean over rows of per-row means.
    """

    bug_id = "lm_loss_mean_of_row_means"
    components = ("lm_loss",)
    category = Category.OBJECTIVE
    layer = Layer.LOSS
    description = "the LM loss is a mean of per-sequence means, not one mean over all tokens of the batch"
    symptom = (
        "short sequences dominate training; the loss changes when the same tokens are batched differently"
    )
    hint = "make one row 2 tokens long and another 50: does each token weigh the same?"
    fix = "loss = (nll * mask).sum() / mask.sum() over the whole batch"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "def loss(logits, labels):\n"
            "    nll = per_token(logits[:, :-1], labels[:, 1:])\n"
            "    return (nll * mask).sum() / mask.sum()\n",
            "def loss(logits, labels):\n"
            "    nll = per_token(logits[:, :-1], labels[:, 1:])\n"
            "    return ((nll * mask).sum(-1) / mask.sum(-1)).mean()\n",
        ),
    )
    UNCHANGED = ("def f(nll, mask):\n    return (nll * mask).sum() / mask.sum()\n",)

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        if next_token_shift(node) is None:
            return ()
        alternatives: list[Replacement] = []
        for line in node.body:
            if not isinstance(line, cst.SimpleStatementLine):
                continue
            for ratio in m.findall(
                line, m.BinaryOperation(operator=m.Divide(), left=_FULL_SUM, right=_FULL_SUM)
            ):
                assert isinstance(ratio, cst.BinaryOperation)
                assert isinstance(ratio.left, cst.Call) and isinstance(ratio.right, cst.Call)
                if callee_name(ratio.left) != "sum":
                    continue
                rows = ratio.with_changes(
                    left=_per_row(ratio.left),
                    right=_per_row(ratio.right),
                    lpar=[cst.LeftParen()],
                    rpar=[cst.RightParen()],
                )
                mean = cst.Call(func=cst.Attribute(value=rows, attr=cst.Name("mean")))
                alternatives.append(replace_nodes(node, {id(ratio): mean}))
        return alternatives
