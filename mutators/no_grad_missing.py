from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

_NO_GRAD = m.Call(func=m.Attribute(value=m.Name("torch"), attr=m.Name("no_grad") | m.Name("inference_mode")))
_NO_GRAD_DECORATOR = m.Decorator(
    decorator=_NO_GRAD | m.Attribute(value=m.Name("torch"), attr=m.Name("no_grad") | m.Name("inference_mode"))
)


class NoGradMissing(Mutator):
    """Evaluation runs without ``torch.no_grad()`` (or ``inference_mode``).

    Results are the same, so nothing looks wrong, but every forward pass records an autograd
    graph: evaluation takes more memory and time, large validation sets run out of memory,
    and an accidental ``backward`` would mix validation gradients into the next step. Sites:
    a ``with torch.no_grad():`` block (replaced by its body) and a ``@torch.no_grad()``
    decorator (removed).
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
    UNCHANGED = ("with open(path) as f:\n    y = f.read()\n", "with torch.no_grad(), other():\n    pass\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.FunctionDef):
            kept = [d for d in node.decorators if not m.matches(d, _NO_GRAD_DECORATOR)]
            if len(kept) == len(node.decorators):
                return ()
            lines = node.decorators[0].leading_lines if node.decorators else ()
            return (node.with_changes(decorators=kept, leading_lines=[*node.leading_lines, *lines]),)
        assert isinstance(node, cst.With)
        if len(node.items) != 1 or not m.matches(node.items[0].item, _NO_GRAD) or node.items[0].asname:
            return ()
        if not isinstance(node.body, cst.IndentedBlock):
            return ()
        statements = list(node.body.body)
        first = statements[0]
        assert isinstance(first, (cst.SimpleStatementLine, cst.BaseCompoundStatement))
        statements[0] = first.with_changes(leading_lines=[*node.leading_lines, *first.leading_lines])
        return (cst.FlattenSentinel(statements),)
