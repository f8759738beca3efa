from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._context import code, words
from ._patterns import callee_name, dotted_name

_NO_GRAD = m.Call(func=m.Attribute(value=m.Name("torch"), attr=m.Name("no_grad") | m.Name("inference_mode")))
_NO_GRAD_DECORATOR = m.Decorator(
    decorator=_NO_GRAD | m.Attribute(value=m.Name("torch"), attr=m.Name("no_grad") | m.Name("inference_mode"))
)


#: names of a model (or of the method that runs one) whose call is a forward pass
_MODELS = frozenset(("model", "net", "network", "module", "self", "ema", "encoder", "decoder", "backbone"))
_RUNS = frozenset(("forward", "generate", "decode", "encode", "logits", "predict", "sample", "infer"))


def _runs_a_model(body: cst.CSTNode) -> bool:
    """Whether ``body`` makes a forward pass: ``model(x)``, ``self.net(x)``, ``model.generate``."""
    for call in m.findall(body, m.Call()):
        assert isinstance(call, cst.Call)
        callee = dotted_name(call.func)
        if callee is None:
            continue
        last = callee.split(".")[-1]
        if words(last) & _MODELS or last in _RUNS:
            return True
    return False


def _updates_parameters_in_place(body: cst.CSTNode) -> bool:
    """Whether ``body`` changes a parameter in place (``w.mul_(s)``, ``p.copy_(q)``,
    ``p.add_(g)``): without ``no_grad`` that raises at once on a leaf that requires grad."""
    for call in m.findall(body, m.Call(func=m.Attribute())):
        assert isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
        name = callee_name(call) or ""
        if not name.endswith("_") or name.startswith("__"):
            continue
        receiver = code(call.func.value)
        if ".data" in receiver:
            continue  # .data is outside autograd: the update works with or without no_grad
        if words(receiver.split(".")[-1]) & {"weight", "bias", "p", "param", "params", "parameter", "v", "w"}:
            return True
    return False


class NoGradMissing(Mutator):
    """Evaluation runs without ``torch.no_grad()`` (or ``inference_mode``).

    Results are the same, so nothing looks wrong, but every forward pass records an autograd
    graph: evaluation takes more memory and time, large validation sets run out of memory,
    and an accidental ``backward`` would mix validation gradients into the next step. Sites:
    a ``with torch.no_grad():`` block (replaced by its body) and a ``@torch.no_grad()``
    decorator (removed), around code that runs a model (``model(x)``, ``self.net(x)``,
    ``model.generate``...). Without a forward pass there is no graph to save (an EMA update of
    ``state_dict()`` tensors, metrics of outputs), and where parameters are changed in place
    (``weight.mul_``) dropping ``no_grad`` only raises at once: neither is a site.
    """

    bug_id = "no_grad_missing"
    components = ("evaluation", "normalization", "generation")
    category = Category.EVALUATION
    layer = Layer.EVALUATION
    description = "drop torch.no_grad() around evaluation: a graph is built for nothing"
    symptom = "evaluation is slow and runs out of memory on the validation set"
    hint = "check outputs.requires_grad inside the evaluation loop"
    fix = "wrap evaluation in `with torch.no_grad():` (or torch.inference_mode())"
    node_types = (cst.With, cst.FunctionDef)
    EXAMPLES = (
        Example("with torch.no_grad():\n    y = model(x)\n    n += 1\n", "y = model(x)\nn += 1\n"),
        Example(
            "@torch.no_grad()\ndef evaluate(model, x):\n    return model(x)\n",
            "def evaluate(model, x):\n    return model(x)\n",
        ),
    )
    UNCHANGED = (
        "with open(path) as f:\n    y = f.read()\n",
        "with torch.no_grad(), other():\n    pass\n",
        "with torch.no_grad():\n"
        "    for e, m in zip(ema.state_dict().values(), msd.values()):\n        e.copy_(m)\n",
        "with torch.no_grad():\n    model.get_classifier().weight.mul_(scale)\n",
        "with torch.no_grad():\n    model(x)\n    model.head.weight.mul_(scale)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.FunctionDef):
            kept = [d for d in node.decorators if not m.matches(d, _NO_GRAD_DECORATOR)]
            if len(kept) == len(node.decorators) or not _graph_for_nothing(node.body):
                return ()
            lines = node.decorators[0].leading_lines if node.decorators else ()
            return (node.with_changes(decorators=kept, leading_lines=[*node.leading_lines, *lines]),)
        assert isinstance(node, cst.With)
        if len(node.items) != 1 or not m.matches(node.items[0].item, _NO_GRAD) or node.items[0].asname:
            return ()
        if not isinstance(node.body, cst.IndentedBlock) or not _graph_for_nothing(node.body):
            return ()
        statements = list(node.body.body)
        first = statements[0]
        assert isinstance(first, (cst.SimpleStatementLine, cst.BaseCompoundStatement))
        statements[0] = first.with_changes(leading_lines=[*node.leading_lines, *first.leading_lines])
        return (cst.FlattenSentinel(statements),)


def _graph_for_nothing(body: cst.CSTNode) -> bool:
    """Whether dropping ``no_grad`` around ``body`` builds a graph for nothing: a forward pass,
    and no in-place parameter update that would raise instead."""
    return _runs_a_model(body) and not _updates_parameters_in_place(body)
