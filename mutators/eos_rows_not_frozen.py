from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import mentions_word, removed_if, same_code, single_assign
from ._patterns import callee_name

#: words in the name of a finished-rows flag; a condition without one (``inp == ignore_index``)
#: replaces tokens for another reason
_FINISHED = ("done", "finish", "eos", "ended", "stop")


def _freezes_finished_rows(statement: cst.BaseStatement) -> bool:
    """``tok = torch.where(done, eos, tok)`` or Hugging Face's
    ``tok = tok * unfinished + pad * (1 - unfinished)``: finished rows emit eos (or pad)."""
    assigned = single_assign(statement)
    if assigned is None:
        return False
    target, value = assigned
    if isinstance(value, cst.Call) and callee_name(value) == "where" and len(value.args) == 3:
        return (
            same_code(value.args[2].value, target)
            and mentions_word(value.args[1].value, "eos", "pad")
            and mentions_word(value.args[0].value, *_FINISHED)
        )
    if m.matches(value, m.BinaryOperation(operator=m.Add(), left=m.BinaryOperation(operator=m.Multiply()))):
        assert isinstance(value, cst.BinaryOperation) and isinstance(value.left, cst.BinaryOperation)
        return (
            same_code(value.left.left, target)
            and mentions_word(value.right, "eos", "pad")
            and mentions_word(value.left.right, *_FINISHED)
        )
    return False


class EosRowsNotFrozen(Mutator):
    """A row that has produced the end-of-sequence token goes on generating.

    In a batch, rows finish at different steps; generation continues for the others, so a
    finished row must emit eos (or padding) from then on. Without that line its model keeps
    writing after eos: the decoded text carries a second answer after the end marker, and
    lengths and scores computed from the output are wrong. Single-prompt tests see nothing.
    Sites: ``tok = torch.where(finished, eos, tok)`` and
    ``tok = tok * unfinished + pad * (1 - unfinished)``, removed.
    """

    bug_id = "eos_rows_not_frozen"
    components = ("generation",)
    category = Category.EVALUATION
    layer = Layer.EVALUATION
    description = "rows that produced eos keep generating while the rest of the batch goes on"
    symptom = "batched generations contain text after the end-of-sequence token"
    hint = "generate a batch where one row ends early: what comes after its eos?"
    fix = "next_token = torch.where(finished, eos_token_id, next_token) before appending"
    node_types = (cst.SimpleStatementLine,)
    EXAMPLES = (
        Example(
            "if eos_token_id is not None:\n"
            "    next_tokens = next_tokens * unfinished + pad_token_id * (1 - unfinished)\n"
            "    unfinished = unfinished & ~(next_tokens == eos_token_id)\n",
            "if eos_token_id is not None:\n    unfinished = unfinished & ~(next_tokens == eos_token_id)\n",
        ),
        Example(
            "for _ in range(n):\n"
            "    tok = torch.where(done, eos_id, tok)\n"
            "    done = done | (tok == eos_id)\n",
            "for _ in range(n):\n    done = done | (tok == eos_id)\n",
        ),
    )
    UNCHANGED = (
        "for _ in range(n):\n    y = torch.where(m, x, y)\n    z = 1\n",
        "for _ in range(n):\n    tok = torch.where(done, eos_id, other)\n    z = 1\n",
        # padding put back where the labels were ignored (x-transformers' training forward)
        "inp = torch.where(inp == ignore_index, self.pad_value, inp)\nz = 1\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        return removed_if(node, _freezes_finished_rows)
