from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import removed_if, same_code


def _pads_by_wrapping(statement: cst.BaseStatement) -> bool:
    """``indices += indices[:padding_size]``: the shard padding taken from the start."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return False
    small = statement.body[0]
    if not isinstance(small, cst.AugAssign) or not isinstance(small.operator, cst.AddAssign):
        return False
    value = small.value
    return (
        isinstance(value, cst.Subscript)
        and same_code(value.value, small.target)
        and len(value.slice) == 1
        and isinstance(value.slice[0].slice, cst.Slice)
        and value.slice[0].slice.lower is None
    )


def _repeated_head(node: cst.Subscript) -> cst.BaseExpression | None:
    """``order`` of ``(order * k)[:total]``: a list repeated, then cut to length."""
    if len(node.slice) != 1 or not isinstance(node.slice[0].slice, cst.Slice):
        return None
    cut = node.slice[0].slice
    if cut.lower is not None or cut.upper is None or cut.step is not None:
        return None
    repeated = node.value
    if not m.matches(repeated, m.BinaryOperation(operator=m.Multiply(), left=m.Name() | m.Attribute())):
        return None
    assert isinstance(repeated, cst.BinaryOperation)
    return repeated.left


class ShardNoWraparound(Mutator):
    """The dataset is not padded to a multiple of the number of replicas.

    ``DistributedSampler`` repeats indices from the start of the permutation until every
    replica gets ``ceil(n / num_replicas)`` of them. Without that, the last ranks get one
    batch fewer: collective operations wait for a batch that never comes (a hang at the end of
    the epoch), or gradients are averaged over unequal numbers of steps. Sites: the wrap-around
    ``indices += indices[:padding]`` (removed) and ``(order * k)[:total]`` (replaced by
    ``order``).
    """

    bug_id = "shard_no_wraparound"
    components = ("collate",)
    category = Category.DATA
    layer = Layer.DATA
    description = "no wrap-around padding: ranks get shards of different lengths"
    symptom = "distributed training hangs at the end of an epoch, or the last rank trains less"
    hint = "print len(shard) for every rank when n is not a multiple of num_replicas"
    fix = "pad the permutation by repeating it from its start up to ceil(n / R) * R indices"
    node_types = (cst.SimpleStatementLine, cst.Subscript)
    EXAMPLES = (
        Example(
            "if padding_size <= len(indices):\n    indices += indices[:padding_size]\n    n = len(indices)\n",
            "if padding_size <= len(indices):\n    n = len(indices)\n",
        ),
        Example("padded = (order * math.ceil(total / n))[:total]\n", "padded = order\n"),
    )
    UNCHANGED = ("x = xs[:k]\n", "if c:\n    total += counts[:3]\n    f()\n", "y = (a * b)[1:]\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.SimpleStatementLine):
            return removed_if(node, _pads_by_wrapping)
        assert isinstance(node, cst.Subscript)
        head = _repeated_head(node)
        return () if head is None else (head,)
