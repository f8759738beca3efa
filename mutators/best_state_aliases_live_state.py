from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

_STATE_DICT = m.Call(func=m.Attribute(attr=m.Name("state_dict")))
_DEEPCOPY = m.Call(
    func=m.Name("deepcopy") | m.Attribute(attr=m.Name("deepcopy")), args=[m.Arg(value=_STATE_DICT)]
)
_CLONE = m.Call(func=m.Attribute(attr=m.Name("clone")))
_COPIED_ITEMS = m.DictComp(
    value=_CLONE | m.Call(func=m.Attribute(value=_CLONE)),
    for_in=m.CompFor(iter=m.Call(func=m.Attribute(value=_STATE_DICT, attr=m.Name("items")))),
)


class BestStateAliasesLiveState(Mutator):
    """The "best" checkpoint is ``model.state_dict()`` itself, not a copy of it.

    ``state_dict()`` returns a dict of references to the live parameter and buffer tensors;
    every later optimizer step changes them in place, so the checkpoint saved at the best
    epoch silently becomes the last epoch's weights. Early stopping and "restore best" then
    restore nothing. Sites: ``copy.deepcopy(m.state_dict())`` and
    ``{k: v.clone() for k, v in m.state_dict().items()}`` (with ``.detach()``/``.cpu()`` around
    the clone), each replaced by ``m.state_dict()``.
    """

    bug_id = "best_state_aliases_live_state"
    components = ("training",)
    category = Category.STATE_DEVICE
    layer = Layer.EVALUATION
    description = "save the best state as model.state_dict() (live references) instead of a copy"
    symptom = "the restored 'best' checkpoint scores exactly like the last epoch"
    hint = "compare best_state's tensors with the live parameters after one more step"
    fix = "copy.deepcopy(model.state_dict()) or {k: v.detach().clone() for k, v in ...items()}"
    node_types = (cst.Call, cst.DictComp)
    EXAMPLES = (
        Example("best = copy.deepcopy(model.state_dict())\n", "best = model.state_dict()\n"),
        Example(
            "best = {k: v.detach().clone() for k, v in net.state_dict().items()}\n",
            "best = net.state_dict()\n",
        ),
    )
    UNCHANGED = ("best = copy.deepcopy(history)\n", "state = model.state_dict()\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.Call) and m.matches(node, _DEEPCOPY):
            return (node.args[0].value,)
        if isinstance(node, cst.DictComp) and m.matches(node, _COPIED_ITEMS):
            items = node.for_in.iter
            assert isinstance(items, cst.Call) and isinstance(items.func, cst.Attribute)
            return (items.func.value,)
        return ()
