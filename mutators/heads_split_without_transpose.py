from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import is_head_swap, is_int_call, is_reshape, receiver, replace_nodes
from ._patterns import callee_name, single_assignment


class HeadsSplitWithoutTranspose(Mutator):
    """Heads are split with ``view(B, T, H, d_k)`` but the length and head axes are not swapped.

    The attention matmuls then run over a ``(B, T, H, d_k)`` tensor: every position attends
    across its own heads instead of across positions. When the query and key lengths differ the
    broadcast fails with a shape error; when they are equal (self-attention, the common case in
    tests) it runs and trains, only worse, which is how it survives a quick check. The bug is
    written the way it happens, in every split of the function at once (queries, keys and values
    alike: with only one of them unswapped the matmul fails at once). Splits: a head swap
    (``transpose(1, 2)``, ``permute(0, 2, 1, 3)``) chained right after a 4-axis
    ``view``/``reshape``, or applied later to a name bound to one (also through
    ``map(lambda t: t.transpose(1, 2), (q, k, v))``), and a fused ``qkv.reshape(B, T, 3, H,
    d_k).permute(2, 0, 3, 1, 4)`` (which becomes ``permute(2, 0, 1, 3, 4)``).
    """

    bug_id = "heads_split_without_transpose"
    components = ("attention", "gqa")
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "split heads with view(B, T, H, d_k) but forget transpose(1, 2)"
    symptom = "shape error when query and key lengths differ; otherwise attention mixes heads, not positions"
    hint = "print q.shape right before q @ k^T: it must be (B, H, T, d_k)"
    fix = "x.view(B, T, H, d_k).transpose(1, 2)"
    node_types = (cst.FunctionDef, cst.Module)
    EXAMPLES = (
        Example(
            "q = q.view(b, t, h, d).transpose(1, 2)\n",
            "q = q.view(b, t, h, d)\n",
        ),
        Example(
            "k = k.reshape(b, -1, self.h, self.d).permute(0, 2, 1, 3)\n",
            "k = k.reshape(b, -1, self.h, self.d)\n",
        ),
        Example(
            "def split(x):\n    x = x.view(b, t, h, d)  # (B, T, H, d)\n    return x.transpose(1, 2)\n",
            "def split(x):\n    x = x.view(b, t, h, d)  # (B, T, H, d)\n    return x\n",
        ),
        Example(
            "def forward(self, x):\n"
            "    q = self.q_proj(x).reshape(B, N, H, D).transpose(1, 2)\n"
            "    k = self.k_proj(x).reshape(B, N, H, D).transpose(1, 2)\n"
            "    v = self.v_proj(x).reshape(B, N, H, D).transpose(1, 2)\n",
            "def forward(self, x):\n"
            "    q = self.q_proj(x).reshape(B, N, H, D)\n"
            "    k = self.k_proj(x).reshape(B, N, H, D)\n"
            "    v = self.v_proj(x).reshape(B, N, H, D)\n",
        ),
        Example(
            "def forward(self, x):\n"
            "    qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)\n"
            "    q, k, v = qkv.unbind(0)\n",
            "def forward(self, x):\n"
            "    qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 1, 3, 4)\n"
            "    q, k, v = qkv.unbind(0)\n",
        ),
        Example(
            "def forward(self, x):\n"
            "    q = self.wq(x).view(bsz, seqlen, self.n_head, self.head_dim)\n"
            "    k = self.wk(x).view(bsz, seqlen, self.n_head, self.head_dim)\n"
            "    q, k = rotate(q, k)\n"
            "    q, k = map(lambda t: t.transpose(1, 2), (q, k))\n",
            "def forward(self, x):\n"
            "    q = self.wq(x).view(bsz, seqlen, self.n_head, self.head_dim)\n"
            "    k = self.wk(x).view(bsz, seqlen, self.n_head, self.head_dim)\n"
            "    q, k = rotate(q, k)\n"
            "    q, k = map(lambda t: t, (q, k))\n",
        ),
    )
    UNCHANGED = (
        "y = ctx.transpose(1, 2).contiguous().view(b, t, d)\n",
        "s = q @ k.transpose(-2, -1)\n",
        "def f(x):\n    x = x.view(b, t, d)\n    return x.transpose(1, 2)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, (cst.FunctionDef, cst.Module))
        collector = _Splits(node)
        node.visit(collector)
        found: dict[int, cst.CSTNode] = {}
        for call in collector.calls:
            unswapped = _unswapped(call, collector.split_names)
            if unswapped is not None:
                found[id(call)] = unswapped
        if not found:
            return ()
        rewritten = replace_nodes(node, found)
        return (rewritten,)


class _Splits(cst.CSTVisitor):
    """The calls of one scope (a function, or module-level code) and the names it binds to a
    4-axis ``view``/``reshape``; nested functions and classes are scopes of their own."""

    def __init__(self, scope: cst.CSTNode) -> None:
        super().__init__()
        self.scope = scope
        self.calls: list[cst.Call] = []
        self.split_names: set[str] = set()

    def on_visit(self, node: cst.CSTNode) -> bool:
        if node is not self.scope and isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            return False
        if isinstance(node, cst.Call):
            self.calls.append(node)
        if isinstance(node, cst.SimpleStatementLine):
            bound = single_assignment(node)
            if bound is not None and isinstance(bound[1], cst.Call) and is_reshape(bound[1], dims=4):
                self.split_names.add(bound[0])
        return True


def _unswapped(call: cst.Call, split_names: set[str]) -> cst.CSTNode | None:
    """``call`` without its head swap, when it swaps the axes of a head split."""
    if is_head_swap(call):
        inner = receiver(call)
        if isinstance(inner, cst.Call) and is_reshape(inner, dims=4):
            return inner
        if isinstance(inner, cst.Name) and inner.value in split_names:
            return inner
        return None
    permuted = receiver(call) if is_int_call(call, "permute", (2, 0, 3, 1, 4)) else None
    if isinstance(permuted, cst.Call):
        if is_reshape(permuted, dims=5):
            args = list(call.args)
            args[2], args[3] = (
                args[2].with_changes(value=args[3].value),
                args[3].with_changes(value=args[2].value),
            )
            return call.with_changes(args=args)
        return None
    if callee_name(call) == "map" and isinstance(call.func, cst.Name) and len(call.args) == 2:
        function, items = call.args[0].value, call.args[1].value
        if not isinstance(function, cst.Lambda) or not isinstance(items, (cst.Tuple, cst.List)):
            return None
        names = {e.value.value for e in items.elements if isinstance(e.value, cst.Name)}
        body = function.body
        params = function.params.params
        if len(params) != 1 or not names or not names <= split_names:
            return None
        if isinstance(body, cst.Call) and is_head_swap(body) and isinstance(receiver(body), cst.Name):
            unswapped = function.with_changes(body=receiver(body))
            return call.with_changes(args=[call.args[0].with_changes(value=unswapped), call.args[1]])
    return None
