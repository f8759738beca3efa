from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

_ZERO = m.Float("0.0") | m.Integer("0") | m.Float("0.")
_WEIGHT_DECAY_KEY = m.SimpleString('"weight_decay"') | m.SimpleString("'weight_decay'")
_BIAS = m.SimpleString('"bias"') | m.SimpleString("'bias'")


class WeightDecayOnBiasAndNorm(Mutator):
    """Biases and normalization parameters are decayed like weights.

    Weight decay pulls parameters towards zero; for a LayerNorm gain that means towards
    "output nothing", for a bias it only removes an offset the data needs. Decaying them hurts
    quietly: training runs, the final loss is a little worse, the norm gains shrink over
    epochs. Two kinds of site: the no-decay group's literal ``"weight_decay": 0.0`` becomes
    the function's ``weight_decay``; and a test ``name == "bias" or <is a norm module>`` loses
    its norm-module half (the common ``if "bias" in name`` that forgets norm weights).
    """

    bug_id = "weight_decay_on_bias_and_norm"
    components = ("optimization",)
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "apply weight decay to biases and normalization weights"
    symptom = "slightly worse final loss; LayerNorm gains shrink towards zero over training"
    hint = "print each param group's weight_decay and the names of its parameters"
    fix = "put biases and every parameter of a normalization module in a group with weight_decay=0"
    node_types = (cst.DictElement, cst.BooleanOperation)
    EXAMPLES = (
        Example(
            'g = {"params": no_decay, "weight_decay": 0.0}\n',
            'g = {"params": no_decay, "weight_decay": weight_decay}\n',
        ),
        Example(
            'if name == "bias" or isinstance(module, nn.LayerNorm):\n    pass\n',
            'if name == "bias":\n    pass\n',
        ),
    )
    UNCHANGED = ('g = {"params": p, "weight_decay": wd}\n', "if a or b:\n    pass\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.DictElement):
            if m.matches(node, m.DictElement(key=_WEIGHT_DECAY_KEY, value=_ZERO)):
                return (node.with_changes(value=cst.Name("weight_decay")),)
            return ()
        assert isinstance(node, cst.BooleanOperation)
        if not isinstance(node.operator, cst.Or):
            return ()
        left, right = _mentions_bias(node.left), _mentions_bias(node.right)
        if left == right:
            return ()
        kept = node.left if left else node.right
        return (kept.with_changes(lpar=node.lpar, rpar=node.rpar),)


def _mentions_bias(expr: cst.BaseExpression) -> bool:
    return bool(m.findall(expr, _BIAS))
