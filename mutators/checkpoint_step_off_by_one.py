from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_runtime import is_step_counter, plus_one_operand
from ._state import string_value

_STEP_KEYS = ("step", "global_step", "iter_num", "iteration", "epoch", "steps")


def _is_step_key(expr: cst.BaseExpression) -> bool:
    key = string_value(expr)
    return key is not None and key.lower() in _STEP_KEYS


#: what a saved training state holds beside its step; a dict with none of them (a results
#: summary such as ``{'epoch': epoch, 'train': metrics}``) is not a checkpoint
_STATE_WORDS = ("state_dict", "model", "optimizer", "scheduler", "scaler")


def _holds_training_state(parent: cst.CSTNode | None) -> bool:
    if not isinstance(parent, cst.Dict):
        return parent is None  # outside the engine: no surroundings to ask
    for element in parent.elements:
        if not isinstance(element, cst.DictElement):
            return True  # ``**state``: may hold anything
        key = string_value(element.key)
        if key is not None and key.lower() in _STATE_WORDS:
            return True
        if m.findall(element.value, m.Attribute(attr=m.Name("state_dict"))):
            return True
    return False


def _shifted(value: cst.BaseExpression) -> cst.BaseExpression:
    """``x`` for ``x + 1``, ``x + 1`` for anything else."""
    inner = plus_one_operand(value)
    if inner is not None:
        return inner.with_changes(lpar=[], rpar=[])
    return cst.BinaryOperation(left=value, operator=cst.Add(), right=cst.Integer("1"))


class CheckpointStepOffByOne(Mutator):
    """The step stored in (or read from) a checkpoint is off by one.

    Whether a checkpoint records the last finished step or the next one to run is a
    convention; mixing the two between save and resume repeats one step (a batch seen twice,
    a schedule one step behind) or skips one, on every restart. It never crashes and the loss
    curve only shows a tiny kink. Sites: the value of a ``"step"``-like key in a dict that is
    saved, and ``return ckpt["step"]`` / ``step = ckpt["step"]`` on load, each shifted by one.
    """

    bug_id = "checkpoint_step_off_by_one"
    components = ("checkpoint",)
    category = Category.STATE_DEVICE
    layer = Layer.UPDATES
    description = "save or restore the training step off by one"
    symptom = "every restart repeats or skips one step; resumed runs drift from uninterrupted ones"
    hint = "save at step k, load: is the returned step k?"
    fix = "store the number of steps taken, and resume the loop from exactly that number"
    node_types = (cst.DictElement, cst.Return, cst.Assign)
    EXAMPLES = (
        Example(
            "checkpoint = {'model': raw_model.state_dict(), 'iter_num': iter_num}\n",
            "checkpoint = {'model': raw_model.state_dict(), 'iter_num': iter_num + 1}\n",
        ),
        Example(
            "state = {'epoch': epoch + 1, 'state_dict': model.state_dict()}\n",
            "state = {'epoch': epoch, 'state_dict': model.state_dict()}\n",
        ),
        Example("start_step = ckpt['step']\n", "start_step = ckpt['step'] + 1\n"),
    )
    UNCHANGED = (
        "config = {'lr': lr, 'name': name}\n",
        "x = ckpt['model']\n",
        "meta = {'step': 'warmup'}\n",
        # a results summary beside the checkpoint (timm's train.py)
        "latest_results = {'epoch': epoch, 'train': train_metrics}\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.DictElement):
            if not _is_step_key(node.key) or not _holds_training_state(self.context.parent):
                return ()
            if not (is_step_counter(node.value) or plus_one_operand(node.value) is not None):
                return ()
            return (node.with_changes(value=_shifted(node.value)),)
        value = node.value if isinstance(node, (cst.Return, cst.Assign)) else None
        if value is None or not m.matches(value, m.Subscript(slice=[m.SubscriptElement(slice=m.Index())])):
            return ()
        assert isinstance(value, cst.Subscript) and isinstance(value.slice[0].slice, cst.Index)
        if not _is_step_key(value.slice[0].slice.value):
            return ()
        return (node.with_changes(value=_shifted(value)),)
