from __future__ import annotations

import itertools
from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._attention import (
    calls_in,
    is_head_swap,
    is_reshape,
    receiver,
    replace_node,
)
from pytest_mlbugs.mutators._patterns import single_assignment


class HeadsSplitWithoutTranspose(Mutator):
    """Heads are split with ``view(B, T, H, d_k)`` but the length and head axes are not swapped.

    The attention matmuls then run over a ``(B, T, H, d_k)`` tensor: every position attends
    across its own heads instead of across positions. When the query and key lengths differ the
    broadcast fails with a shape error; when they are equal (self-attention, the common case in
    tests) it runs and trains, only worse, which is how it survives a quick check. Sites: a
    head swap (``transpose(1, 2)``, ``permute(0, 2, 1, 3)``) chained right after a 4-axis
    ``view``/``reshape``, or applied to a name bound to one in the statement before it.
    """

    bug_id = "heads_split_without_transpose"
    components = ("attention", "gqa")
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "split heads with view(B, T, H, d_k) but forget transpose(1, 2)"
    symptom = "shape error when query and key lengths differ; otherwise attention mixes heads, not positions"
    hint = "print q.shape right before q @ k^T: it must be (B, H, T, d_k)"
    fix = "x.view(B, T, H, d_k).transpose(1, 2)"
    node_types = (cst.Call, cst.IndentedBlock)
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
    )
    UNCHANGED = (
        "y = ctx.transpose(1, 2).contiguous().view(b, t, d)\n",
        "s = q @ k.transpose(-2, -1)\n",
        "def f(x):\n    x = x.view(b, t, d)\n    return x.transpose(1, 2)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.Call):
            if is_head_swap(node) and isinstance(receiver(node), cst.Call):
                split = receiver(node)
                assert isinstance(split, cst.Call)
                if is_reshape(split, dims=4):
                    return (split,)
            return ()
        assert isinstance(node, cst.IndentedBlock)
        body = list(node.body)
        for i, (statement, following) in enumerate(itertools.pairwise(body)):
            bound = single_assignment(statement)
            if bound is None or not isinstance(bound[1], cst.Call) or not is_reshape(bound[1], dims=4):
                continue
            name = bound[0]
            for call in calls_in(following):
                if is_head_swap(call) and isinstance(receiver(call), cst.Name):
                    target = receiver(call)
                    assert isinstance(target, cst.Name)
                    if target.value == name:
                        body[i + 1] = replace_node(following, call, target)
                        return (node.with_changes(body=body),)
        return ()
