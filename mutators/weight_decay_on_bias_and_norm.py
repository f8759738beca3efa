from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, SiteContext

from ._context import name_available

_ZERO = m.Float("0.0") | m.Integer("0") | m.Float("0.")
_WEIGHT_DECAY_KEY = m.SimpleString('"weight_decay"') | m.SimpleString("'weight_decay'")
_BIAS = m.SimpleString('"bias"') | m.SimpleString("'bias'")


class WeightDecayOnBiasAndNorm(Mutator):
    """Biases and normalization parameters are decayed like weights.

    Weight decay pulls parameters towards zero; for a LayerNorm gain that means towards "output
    nothing", for a bias it only removes an offset the data needs. Decaying them hurts quietly:
    training runs, the final loss is a little worse, the norm gains shrink over epochs. Two kinds of
    site: the no-decay group's literal ``"weight_decay": 0.0`` becomes the decay of the other group
    of the same list (``self.args.weight_decay``), or the function's ``weight_decay`` (none where
    there is neither: the name would be undefined); and a test ``name == "bias" or <is a norm
    module>`` loses its norm-module half (the common ``if "bias" in name`` that forgets norm
    weights).
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
            'groups = [{"params": a, "weight_decay": self.args.weight_decay}, '
            '{"params": b, "weight_decay": 0.0}]\n',
            'groups = [{"params": a, "weight_decay": self.args.weight_decay}, '
            '{"params": b, "weight_decay": self.args.weight_decay}]\n',
        ),
        Example(
            'if name == "bias" or isinstance(module, nn.LayerNorm):\n    pass\n',
            'if name == "bias":\n    pass\n',
        ),
    )
    UNCHANGED = (
        'g = {"params": p, "weight_decay": wd}\n',
        "if a or b:\n    pass\n",
        # no decay anywhere to name: weight_decay would be undefined
        'import torch\ndef groups(ps):\n    return [{"params": ps, "weight_decay": 0.0}]\n',
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.DictElement):
            if m.matches(node, m.DictElement(key=_WEIGHT_DECAY_KEY, value=_ZERO)):
                decay = _the_decay(self.context)
                return () if decay is None else (node.with_changes(value=decay),)
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


def _the_decay(context: SiteContext) -> cst.BaseExpression | None:
    """What the decayed parameters get: the non-zero ``"weight_decay"`` of another group in the
    same list, else a ``weight_decay`` the function binds (a parameter, an assignment) or the
    module does; ``None`` when nothing is there to name."""
    groups = next((a for a in context.ancestors if isinstance(a, (cst.List, cst.Tuple))), None)
    if groups is not None:
        for element in groups.elements:
            for entry in m.findall(element.value, m.DictElement(key=_WEIGHT_DECAY_KEY)):
                assert isinstance(entry, cst.DictElement)
                if not m.matches(entry.value, _ZERO):
                    return entry.value
    function = context.function
    if function is not None and "weight_decay" in {p.name.value for p in function.params.params}:
        return cst.Name("weight_decay")
    if context.assignments("weight_decay") or name_available(context, "weight_decay"):
        return cst.Name("weight_decay")
    return None
