from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import mentions_name, replace_names
from ._llm_runtime import last_name
from ._numerics import atom


def _over_groups(iterable: cst.BaseExpression) -> bool:
    """``self.base_lrs``, ``optimizer.param_groups``: one entry per parameter group."""
    name = last_name(iterable)
    return name is not None and name in ("base_lrs", "param_groups", "initial_lrs")


def _reads_own_entry(elt: cst.BaseExpression, target: str) -> bool:
    """``group["lr"]`` alone: the comprehension lists the current rates (for a log or a
    summary), it computes none, so reading them from the first group changes no schedule."""
    return isinstance(elt, cst.Subscript) and isinstance(elt.value, cst.Name) and elt.value.value == target


class ScheduleFirstGroupOnly(Mutator):
    """The learning rate of the first parameter group is applied to every group, or to it alone.

    Optimizers often carry several groups with different rates (no weight decay on norms, a
    smaller rate for the backbone). A scheduler that computes every group's rate from
    ``base_lrs[0]`` trains the backbone at the head's rate; a loop that writes
    ``param_groups[0]["lr"]`` leaves the other groups at their initial rate forever. Single-group
    tests see nothing. Sites: a ``for`` loop or comprehension over ``base_lrs`` or
    ``param_groups``, whose variable is replaced by the first entry.
    """

    bug_id = "schedule_first_group_only"
    components = ("schedule",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "schedule every parameter group from the first group (or the first group alone)"
    symptom = "layers in other parameter groups train at a wrong or constant learning rate"
    hint = "print every group's lr after a few scheduler steps"
    fix = "compute each group's rate from its own base lr, and set every group"
    node_types = (cst.For, cst.ListComp)
    EXAMPLES = (
        Example(
            "for param_group in optimizer.param_groups:\n    param_group['lr'] = lr\n",
            "for param_group in optimizer.param_groups:\n    optimizer.param_groups[0]['lr'] = lr\n",
        ),
        Example(
            "lrs = [base_lr * self.factor(self.last_epoch) for base_lr in self.base_lrs]\n",
            "lrs = [self.base_lrs[0] * self.factor(self.last_epoch) for base_lr in self.base_lrs]\n",
        ),
    )
    UNCHANGED = (
        "for x in items:\n    x['lr'] = lr\n",
        "for group in optimizer.param_groups:\n    total += 1\n",
        # a log of the current rates (timm's train.py): nothing is scheduled from it
        "lrl = [param_group['lr'] for param_group in optimizer.param_groups]\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        inner: cst.CSTNode
        if isinstance(node, cst.For):
            target, iterable, inner = node.target, node.iter, node.body
        else:
            assert isinstance(node, cst.ListComp)
            if node.for_in.inner_for_in is not None:
                return ()
            target, iterable, inner = node.for_in.target, node.for_in.iter, node.elt
        if (
            not isinstance(target, cst.Name)
            or not _over_groups(iterable)
            or not mentions_name(inner, target.value)
            or (isinstance(node, cst.ListComp) and _reads_own_entry(node.elt, target.value))
        ):
            return ()
        first = cst.Subscript(value=atom(iterable), slice=[cst.SubscriptElement(cst.Index(cst.Integer("0")))])
        changed = replace_names(inner, target.value, first)
        if isinstance(node, cst.For):
            return (node.with_changes(body=changed),)
        return (node.with_changes(elt=changed),)
