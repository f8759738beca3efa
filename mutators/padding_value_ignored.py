from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import is_pad_id
from ._patterns import argument, callee_name
from ._state import rename_call, without_arg


class PaddingValueIgnored(Mutator):
    """The batch is padded with 0 instead of the pad token id.

    ``pad_sequence`` pads with 0 unless told ``padding_value=``, and ``torch.zeros`` is the
    habit for "an empty batch". Token 0 is a real token in most vocabularies (``<unk>``, ``!``):
    where the attention mask and labels are built from positions the loss is unaffected, but
    anything that later recognises padding by value (a model without an attention mask,
    generation that strips pad tokens, a collator masking ``== pad_token_id``) sees text.
    Sites: ``torch.full(shape, pad_id)`` (made ``torch.zeros(shape)``) and a ``padding_value=``
    or ``value=`` argument naming the pad id (dropped).
    """

    bug_id = "padding_value_ignored"
    components = ("collate",)
    category = Category.DATA
    layer = Layer.DATA
    description = "pad with token 0 instead of pad_token_id"
    symptom = "decoded batches show a real token (often '!' or <unk>) where the padding is"
    hint = "decode a padded batch: what is in the padding?"
    fix = "torch.full((B, T), pad_token_id), or pad_sequence(..., padding_value=pad_token_id)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "input_ids = torch.full((batch, max_len), pad_token_id, dtype=torch.long)\n",
            "input_ids = torch.zeros((batch, max_len), dtype=torch.long)\n",
        ),
        Example(
            "ids = pad_sequence(seqs, batch_first=True, padding_value=self.tokenizer.pad_token_id)\n",
            "ids = pad_sequence(seqs, batch_first=True)\n",
        ),
        Example("x = F.pad(ids, (0, n), value=pad_id)\n", "x = F.pad(ids, (0, n))\n"),
    )
    UNCHANGED = (
        "x = torch.full((b, t), -100)\n",
        "ids = pad_sequence(seqs, batch_first=True, padding_value=0)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        name = callee_name(node)
        if name == "full":
            fill = argument(node, keyword="fill_value", position=1)
            if fill is None or not is_pad_id(fill[1].value):
                return ()
            return (rename_call(without_arg(node, fill[0]), "zeros"),)
        keyword = {"pad_sequence": "padding_value", "pad": "value"}.get(name or "")
        if keyword is None:
            return ()
        found = argument(node, keyword=keyword, position=None)
        if found is None or not is_pad_id(found[1].value):
            return ()
        return (without_arg(node, found[0]),)
