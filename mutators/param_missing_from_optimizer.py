from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

_PARAM_GROUP = m.Element(
    value=m.Dict(
        elements=[
            m.ZeroOrMore(),
            m.DictElement(key=m.SimpleString('"params"') | m.SimpleString("'params'")),
            m.ZeroOrMore(),
        ]
    )
)


class ParamMissingFromOptimizer(Mutator):
    """One parameter group is left out of the optimizer: its parameters are never updated.

    Splitting parameters into groups (decay / no decay, backbone / head) and then passing
    only one list to the optimizer is a classic: the forgotten parameters keep their initial
    values, gradients are computed for them and thrown away, and the model trains anyway,
    only worse (biases and norm gains stuck at 0 and 1). A site is a list literal of two or
    more param-group dicts (``{"params": ...}``); each group can be the one dropped.
    """

    bug_id = "param_missing_from_optimizer"
    components = ("optimization",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "leave a parameter group out of the optimizer"
    symptom = "some weights never change (biases stay zero); loss plateaus above what the model can reach"
    hint = "check that every parameter with requires_grad appears in optimizer.param_groups"
    fix = "pass every group to the optimizer; assert the groups cover all trainable parameters"
    node_types = (cst.List,)
    EXAMPLES = (
        Example(
            'groups = [{"params": a, "weight_decay": wd}, {"params": b, "weight_decay": 0.0}]\n',
            'groups = [{"params": b, "weight_decay": 0.0}]\n',
        ),
        Example(
            'groups = [{"params": a, "weight_decay": wd}, {"params": b, "weight_decay": 0.0}]\n',
            'groups = [{"params": a, "weight_decay": wd}]\n',
            site=1,
        ),
    )
    UNCHANGED = ('groups = [{"params": a}]\n', "xs = [a, b]\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.List)
        elements = list(node.elements)
        if len(elements) < 2 or not all(m.matches(e, _PARAM_GROUP) for e in elements):
            return ()
        last_comma = elements[-1].comma
        variants = []
        for dropped in range(len(elements)):
            kept = [e for i, e in enumerate(elements) if i != dropped]
            kept[-1] = kept[-1].with_changes(comma=last_comma)
            variants.append(node.with_changes(elements=kept))
        return variants
