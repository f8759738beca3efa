from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutation import SiteContext

from ._llm import (
    is_rope_table,
    plus_one,
    position_arange,
    table_slice,
    with_bounds,
    with_slice,
)
from ._patterns import callee_name, int_literal


def _embedding_names(module: cst.Module) -> set[str]:
    """Names given to an ``nn.Embedding``: ``self.wpe = nn.Embedding(...)``, or nanoGPT's
    ``dict(wpe=nn.Embedding(...))``."""
    names: set[str] = set()
    for assign in m.findall(module, m.Assign(value=m.Call())):
        assert isinstance(assign, cst.Assign) and isinstance(assign.value, cst.Call)
        if callee_name(assign.value) == "Embedding":
            for target in assign.targets:
                if isinstance(target.target, (cst.Name, cst.Attribute)):
                    leaf = target.target if isinstance(target.target, cst.Name) else target.target.attr
                    names.add(leaf.value)
    for arg in m.findall(module, m.Arg(keyword=m.Name(), value=m.Call())):
        assert isinstance(arg, cst.Arg) and isinstance(arg.value, cst.Call) and arg.keyword is not None
        if callee_name(arg.value) == "Embedding":
            names.add(arg.keyword.value)
    return names


def _indexes_learned_table(context: SiteContext) -> bool:
    """Whether the positions built at the site index a learned ``nn.Embedding`` (nanoGPT's
    ``self.transformer.wpe(pos)``): trained from scratch, starting at 1 only relabels its rows
    (and runs past the table at the full length); no rotary or sinusoidal angle changes."""
    statement, function, module = context.statement, context.function, context.module
    if statement is None or function is None or module is None:
        return False
    targets = {
        t.target.value
        for a in m.findall(statement, m.Assign())
        if isinstance(a, cst.Assign)
        for t in a.targets
        if isinstance(t.target, cst.Name)
    }
    tables = _embedding_names(module)
    for call in m.findall(function, m.Call()):
        assert isinstance(call, cst.Call)
        if callee_name(call) in tables and any(
            isinstance(a.value, cst.Name) and a.value.value in targets for a in call.args
        ):
            return True
    return False


class PositionsOffByOne(Mutator):
    """Positions start at 1 instead of 0 in a rotary or sinusoidal table.

    ``torch.arange(1, T + 1)`` from a 1-based habit, or a cache offset counted one too far
    (``cos[start_pos + 1 : ...]``, the length of the cache *after* the write). Relative
    positions, which is all that attention reads from rotary embeddings, are unchanged as long
    as queries and keys shift together, so a model trained from scratch is fine; but a
    checkpoint's first token is no longer unrotated, and where only queries or only keys are
    shifted (a table slice for one of them) every distance is off by one. Sites: a slice of a
    rotary table (``self.cos[a:b]``, ``cos_cached[:, :, :T]``) or its index by positions
    (``self.freqs_cis[input_pos]``), and a positions ``arange`` without a step (also the
    ``position = torch.arange(max_len)`` of a sinusoidal table, whose row 0 must be position 0).
    """

    bug_id = "positions_off_by_one"
    components = ("rope", "positional_encoding")
    category = Category.DATA
    layer = Layer.DATA
    description = "positions of a rotary/sinusoidal table start at 1, not 0 (sliced or counted one too far)"
    symptom = (
        "a pretrained checkpoint loses quality; the first token is rotated though position 0 is the identity"
    )
    hint = "rotate a vector at position 0: it must come back unchanged"
    fix = "positions = torch.arange(start, start + seq_len); cos = table[start : start + seq_len]"
    node_types = (cst.Subscript, cst.SimpleStatementLine)
    EXAMPLES = (
        Example(
            "cos = self.cos[start_pos : start_pos + seq_len]\n",
            "cos = self.cos[start_pos + 1 : start_pos + seq_len + 1]\n",
        ),
        Example("cos = self.cos_cached[:seq_len]\n", "cos = self.cos_cached[1:seq_len + 1]\n"),
        Example("freqs_cis = self.freqs_cis[input_pos]\n", "freqs_cis = self.freqs_cis[input_pos + 1]\n"),
        Example(
            "t = torch.arange(self.max_seq_len_cached, device=device, dtype=torch.int64).float()\n",
            "t = torch.arange(1, self.max_seq_len_cached + 1, device=device, dtype=torch.int64).float()\n",
        ),
        Example(
            "position_ids = torch.arange(past_length, seq_length + past_length)\n",
            "position_ids = torch.arange(past_length + 1, seq_length + past_length + 1)\n",
        ),
    )
    UNCHANGED = (
        "x = logits[:, :-1]\n",
        "idx = torch.arange(0, dim, 2)\n",
        "t = torch.arange(0, n, 2)\n",
        "c = self.cos[:]\n",
        # nanoGPT: the positions index a learned embedding
        "class GPT(nn.Module):\n"
        "    def __init__(self):\n"
        "        self.wpe = nn.Embedding(block_size, n_embd)\n"
        "    def forward(self, idx):\n"
        "        pos = torch.arange(0, t, dtype=torch.long)\n"
        "        return self.wpe(pos)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.Subscript):
            return self._table(node)
        found = position_arange(node)
        if found is None or _indexes_learned_table(self.context):
            return ()
        call, bounds = found
        if len(bounds) == 1:
            shifted = [cst.Integer("1"), plus_one(bounds[0].value)]
        else:
            lower = int_literal(bounds[0].value)
            first = cst.Integer(str(lower + 1)) if lower is not None else plus_one(bounds[0].value)
            shifted = [first, plus_one(bounds[1].value)]
        return (with_bounds(node, call, shifted),)

    def _table(self, node: cst.Subscript) -> Sequence[Replacement]:
        found = table_slice(node)
        if found is not None:
            index, lower, upper = found
            if upper is None:
                return ()
            return (
                with_slice(
                    node, index, cst.Integer("1") if lower is None else plus_one(lower), plus_one(upper)
                ),
            )
        if is_rope_table(node.value) and len(node.slice) == 1:
            element = node.slice[0]
            if isinstance(element.slice, cst.Index) and isinstance(element.slice.value, cst.Name):
                if "pos" in element.slice.value.value:
                    index_plus_one = element.slice.with_changes(value=plus_one(element.slice.value))
                    return (node.with_changes(slice=[element.with_changes(slice=index_plus_one)]),)
        return ()
