from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import argument, callee_name, dotted_name, int_literal

_KV_NAMES = ("k", "v", "xk", "xv", "keys", "values", "key", "value", "hidden_states")


def _is_kv(expr: cst.BaseExpression) -> bool:
    if not isinstance(expr, cst.Name):
        return False
    name = expr.value.lower()
    return name in _KV_NAMES or "key" in name or "value" in name


def _tiled(tensor: cst.BaseExpression, times: cst.BaseExpression, axis: int) -> cst.Call:
    """``tensor.repeat(1, times, 1, 1)`` with ``times`` at ``axis`` of a 4-D tensor."""
    sizes: list[cst.BaseExpression] = [cst.Integer("1")] * 4
    sizes[axis % 4] = times
    return cst.Call(
        func=cst.Attribute(value=tensor, attr=cst.Name("repeat")), args=[cst.Arg(s) for s in sizes]
    )


class KvHeadsTiledNotInterleaved(Mutator):
    """Grouped-query attention repeats the key/value heads as a block (``repeat``) where each head
    must be repeated for its own group (``repeat_interleave``).

    Query head ``h`` reads key/value head ``h // (num_heads // num_kv_heads)``: contiguous
    groups. ``k.repeat(1, n_rep, 1, 1)`` tiles the heads instead, so head ``h`` reads
    ``h % num_kv_heads``. Shapes are identical and with one key/value head (multi-query) or as
    many as query heads (multi-head) the two agree, so small tests pass; with real groups every
    query head attends through the wrong keys, and a Llama checkpoint gives garbage. Sites:
    ``repeat_interleave`` of keys or values along a head axis (1 or 2, for ``(B, H, T, D)`` or
    ``(B, T, H, D)``), and Hugging Face's ``repeat_kv`` ``[:, :, None].expand(...)``.
    """

    bug_id = "kv_heads_tiled_not_interleaved"
    components = ("gqa",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "GQA repeats key/value heads with repeat (tiled) instead of repeat_interleave (grouped)"
    symptom = "a grouped-query checkpoint gives garbage; tests with num_kv_heads 1 or num_heads pass"
    hint = "with 4 query heads and 2 kv heads, query head 1 must read kv head 0, not kv head 1"
    fix = "k = k.repeat_interleave(num_heads // num_kv_heads, dim=1)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "k = k.repeat_interleave(self.n_head // self.n_local_heads, dim=1)\n",
            "k = k.repeat(1, self.n_head // self.n_local_heads, 1, 1)\n",
        ),
        Example(
            "xv = torch.repeat_interleave(xv, repeats=n_rep, dim=2)\n",
            "xv = xv.repeat(1, 1, n_rep, 1)\n",
        ),
        Example(
            "hidden_states = hidden_states[:, :, None, :, :].expand(batch, num_kv, n_rep, slen, head_dim)\n",
            "hidden_states = hidden_states[:, None, :, :, :].expand(batch, n_rep, num_kv, slen, head_dim)\n",
        ),
    )
    UNCHANGED = (
        "emb = freqs.repeat_interleave(2, dim=-1)\n",
        "k = k.repeat_interleave(n, dim=0)\n",
        "y = x[:, :, None].expand(a, b, c)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        name = callee_name(node)
        if name == "expand":
            return self._repeat_kv(node)
        if name != "repeat_interleave" or not isinstance(node.func, cst.Attribute):
            return ()
        function_form = dotted_name(node.func.value) == "torch"
        tensor = node.args[0].value if function_form and node.args else node.func.value
        offset = 1 if function_form else 0
        times = argument(node, keyword="repeats", position=offset)
        axis = argument(node, keyword="dim", position=offset + 1)
        if times is None or axis is None or not _is_kv(tensor):
            return ()
        dim = int_literal(axis[1].value)
        if dim not in (1, 2, -2, -3):
            return ()
        return (_tiled(tensor, times[1].value, dim),)

    def _repeat_kv(self, node: cst.Call) -> Sequence[Replacement]:
        """``x[:, :, None, :, :].expand(b, kv, n, s, d)`` becomes
        ``x[:, None, :, :, :].expand(b, n, kv, s, d)``."""
        receiver = node.func.value if isinstance(node.func, cst.Attribute) else None
        if not isinstance(receiver, cst.Subscript) or len(receiver.slice) != 5 or len(node.args) != 5:
            return ()
        none_at = [
            i for i, e in enumerate(receiver.slice) if m.matches(e.slice, m.Index(value=m.Name("None")))
        ]
        if none_at != [2] or not _is_kv(receiver.value):
            return ()
        elements = list(receiver.slice)
        elements[1], elements[2] = (
            elements[2].with_changes(comma=elements[1].comma),
            elements[1].with_changes(comma=elements[2].comma),
        )
        args = list(node.args)
        args[1], args[2] = (
            args[2].with_changes(comma=args[1].comma),
            args[1].with_changes(comma=args[2].comma),
        )
        assert isinstance(node.func, cst.Attribute)
        return (
            node.with_changes(
                func=node.func.with_changes(value=receiver.with_changes(slice=elements)), args=args
            ),
        )
