from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import replace_node
from ._llm_runtime import is_rank, mentions_word, seeding_argument
from ._numerics import atom


def _rank_in(function: cst.FunctionDef) -> cst.BaseExpression | None:
    """The rank a function can read: a parameter ``rank``, or an attribute ``self.rank``."""
    for param in function.params.params:
        if is_rank(param.name):
            return param.name
    for attribute in m.findall(function.body, m.Attribute()):
        assert isinstance(attribute, cst.Attribute)
        if is_rank(attribute):
            return attribute
    return None


class ShardOrderDiffersBetweenRanks(Mutator):
    """Each rank shuffles the dataset with its own seed (``seed + rank``).

    A distributed sampler must draw the same permutation on every rank and then give each rank
    its own slice of it; that is what makes the shards disjoint. Seeding with the rank (a
    habit from seeding dropout per process) gives each rank a different permutation: the
    slices overlap, some examples are seen on several ranks in an epoch and others never.
    Every rank looks perfectly shuffled on its own. Sites: a generator seeding call in a
    function that knows its rank, with ``+ rank`` added to the seed.
    """

    bug_id = "shard_order_differs_between_ranks"
    components = ("collate",)
    category = Category.DATA
    layer = Layer.DATA
    description = "seed the shuffle with the rank: ranks draw different permutations and overlap"
    symptom = "ranks train on overlapping data; some examples are never seen in an epoch"
    hint = "collect every rank's indices of one epoch: are they disjoint?"
    fix = "seed the permutation identically on every rank (seed + epoch), then slice by rank"
    node_types = (cst.FunctionDef,)
    EXAMPLES = (
        Example(
            "def __iter__(self):\n"
            "    g = torch.Generator()\n"
            "    g.manual_seed(self.seed + self.epoch)\n"
            "    indices = torch.randperm(len(self.dataset), generator=g).tolist()\n"
            "    return iter(indices[self.rank::self.num_replicas])\n",
            "def __iter__(self):\n"
            "    g = torch.Generator()\n"
            "    g.manual_seed(self.seed + self.epoch + self.rank)\n"
            "    indices = torch.randperm(len(self.dataset), generator=g).tolist()\n"
            "    return iter(indices[self.rank::self.num_replicas])\n",
        ),
    )
    UNCHANGED = (
        "def f(seed, epoch):\n    g.manual_seed(seed + epoch)\n    return g\n",
        "def f(seed, rank):\n    torch.manual_seed(seed + rank)\n    return 1\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.FunctionDef)
        rank = _rank_in(node)
        if rank is None:
            return ()
        found = []
        for call in m.findall(node.body, m.Call()):
            assert isinstance(call, cst.Call)
            seed = seeding_argument(call)
            if seed is None or mentions_word(seed, "rank"):
                continue
            left = seed if m.matches(seed, m.BinaryOperation(operator=m.Add())) else atom(seed)
            plus_rank = cst.BinaryOperation(left=left, operator=cst.Add(), right=rank)
            found.append(
                replace_node(node, call, call.with_changes(args=[call.args[0].with_changes(value=plus_rank)]))
            )
        return found
