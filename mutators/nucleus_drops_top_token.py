from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import is_literal, named, removed_if, single_assign

_FIRST = m.SubscriptElement(slice=m.Index(value=m.Integer("0")))


def _keeps_the_top_token(statement: cst.BaseStatement) -> bool:
    """``remove[..., 0] = False``: the most probable token, first in descending order, kept."""
    assigned = single_assign(statement)
    if assigned is None:
        return False
    target, value = assigned
    return (
        isinstance(target, cst.Subscript)
        and named(target.value, "remove", "outside", "drop", "filter")
        and m.matches(target.slice[-1], _FIRST)
        and is_literal(value, "False", "0")
    )


class NucleusDropsTopToken(Mutator):
    """Top-p can remove the most probable token, and then every token.

    After the removal mask is shifted right by one, its first entry still says whether the most
    probable token alone exceeds ``top_p``; the line that clears it (``remove[..., 0] = False``)
    is what guarantees that something survives (an ascending sort that keeps the last
    ``min_tokens_to_keep`` tokens never removes the top token in the first place, and is no
    site). Without it, a confident model (top probability above ``top_p``) gets an
    all ``-inf`` row: NaN probabilities and a crash in ``torch.multinomial``, exactly when the
    model is sure. Sites: that statement, removed.
    """

    bug_id = "nucleus_drops_top_token"
    components = ("sampling",)
    category = Category.OBJECTIVE
    layer = Layer.EVALUATION
    description = "top-p may filter out the most probable token (and with it every token)"
    symptom = "RuntimeError: probability tensor contains inf or nan, whenever the model is confident"
    hint = "run top_p=0.5 on logits where one token has probability 0.9"
    fix = "always keep the most probable token: remove[..., 0] = False after the shift"
    loud = True
    node_types = (cst.SimpleStatementLine,)
    EXAMPLES = (
        Example(
            "def f(sorted_indices_to_remove):\n"
            "    sorted_indices_to_remove[..., 1:] = sorted_indices_to_remove[..., :-1].clone()\n"
            "    sorted_indices_to_remove[..., 0] = 0\n"
            "    return sorted_indices_to_remove\n",
            "def f(sorted_indices_to_remove):\n"
            "    sorted_indices_to_remove[..., 1:] = sorted_indices_to_remove[..., :-1].clone()\n"
            "    return sorted_indices_to_remove\n",
        ),
    )
    UNCHANGED = (
        "def f(x):\n    x[:, 0] = 0\n    return x\n",
        "def f(mask):\n    mask[..., 0] = True\n    return mask\n",
        "def f(remove, k):\n    remove[..., -k:] = 0\n    return remove\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        return removed_if(node, _keeps_the_top_token)
