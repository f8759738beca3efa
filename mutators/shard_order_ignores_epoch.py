from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import named, seeding_argument, without_parens


class ShardOrderIgnoresEpoch(Mutator):
    """The shuffle is seeded without the epoch: every epoch sees the same order.

    ``DistributedSampler`` seeds its permutation with ``seed + epoch`` (and needs
    ``set_epoch`` every epoch). Seeding with the seed alone replays the first epoch's order
    forever: batches are always composed the same way, which costs generalisation and makes
    the loss curve periodic, but every single epoch looks properly shuffled. Sites: a
    ``manual_seed(seed + epoch)``-like call, with the epoch dropped from the sum.
    """

    bug_id = "shard_order_ignores_epoch"
    components = ("collate",)
    category = Category.DATA
    layer = Layer.DATA
    description = "shuffle seeded without the epoch: the same order every epoch"
    symptom = "the training loss repeats the same pattern every epoch"
    hint = "print the first indices of two epochs"
    fix = "seed the generator with seed + epoch (and call sampler.set_epoch(epoch))"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("g.manual_seed(self.seed + self.epoch)\n", "g.manual_seed(self.seed)\n"),
        Example(
            "rng = np.random.RandomState(base_seed + epoch)\n", "rng = np.random.RandomState(base_seed)\n"
        ),
    )
    UNCHANGED = ("g.manual_seed(seed + rank)\n", "torch.manual_seed(epoch)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        seed = seeding_argument(node)
        if seed is None:
            return ()
        seed = without_parens(seed)
        if not m.matches(seed, m.BinaryOperation(operator=m.Add())):
            return ()
        assert isinstance(seed, cst.BinaryOperation)
        if named(seed.right, "epoch") and not named(seed.left, "epoch"):
            kept = seed.left
        elif named(seed.left, "epoch") and not named(seed.right, "epoch"):
            kept = seed.right
        else:
            return ()
        return (node.with_changes(args=[node.args[0].with_changes(value=kept)]),)
