"""The site context the engine gives mutators, and descriptions that follow a site's context."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Layer, Mutator, Rewrite, SiteContext, find_sites, mutate_source, parse
from pytest_mlbugs.generator import Bug
from pytest_mlbugs.mutation import Replacement, apply_sites

SOURCE = """\
import torch.nn.functional as F
from torch import nn

SCALE = 2.0


class Attention(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.scale = d ** -0.5

    def forward(self, x):
        h = x * 3
        h = h + 1
        w = F.softmax(h * self.scale, dim=-1)
        return self.drop(w)


def embed(x):
    return F.dropout(x, 0.1)
"""


class _CallMutator(Mutator):
    """The catalogue fields of the test mutators below, which look at calls."""

    components = ()
    category = Category.SHAPES
    layer = Layer.SHAPES
    symptom = hint = fix = "-"
    node_types = (cst.Call,)


class _Recorder(_CallMutator):
    """Records the context of every call it is offered; writes nothing."""

    bug_id = "context_recorder"
    description = "records contexts"

    def __init__(self) -> None:
        self.seen: dict[str, SiteContext] = {}

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        self.seen[cst.Module([]).code_for_node(node.func)] = self.context
        return ()


class _DropoutRemover(_CallMutator):
    """Removes dropout calls and says which dropout it removed."""

    bug_id = "dropout_remover"
    description = "dropout skipped"

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement | Rewrite]:
        assert isinstance(node, cst.Call)
        name = cst.Module([]).code_for_node(node.func)
        if "drop" not in name:
            return ()
        if self.context.class_def is not None and "Attention" in self.context.class_def.name.value:
            return (Rewrite(node.args[0].value, "attention dropout skipped"),)
        return (node.args[0].value,)


def _recorded() -> dict[str, SiteContext]:
    recorder = _Recorder()
    find_sites(parse(SOURCE), [recorder])
    return recorder.seen


def test_context_names_the_enclosing_function_class_and_call():
    softmax = _recorded()["F.softmax"]
    assert softmax.function is not None and softmax.function.name.value == "forward"
    assert softmax.class_def is not None and softmax.class_def.name.value == "Attention"
    assert softmax.scope_names == ("forward", "Attention")
    assert isinstance(softmax.parent, cst.Assign)
    drop = _recorded()["self.drop"]
    assert drop.call is None  # the call itself is no argument of another call
    assert isinstance(drop.statement, cst.SimpleStatementLine)


def test_context_follows_a_name_to_its_last_assignment_before_the_site():
    softmax = _recorded()["F.softmax"]
    assert softmax.node is not None and isinstance(softmax.node, cst.Call)
    scores = softmax.node.args[0].value
    assert isinstance(scores, cst.BinaryOperation) and isinstance(scores.left, cst.Name)
    value = softmax.value_of(scores.left)
    assert value is not None and cst.Module([]).code_for_node(value) == "h + 1"
    assert [cst.Module([]).code_for_node(v) for v in softmax.assignments("h")] == ["x * 3", "h + 1"]
    scale = softmax.value_of(scores.right)
    assert scale is not None and cst.Module([]).code_for_node(scale) == "d ** -0.5"


def test_context_answers_scope_questions():
    softmax = _recorded()["F.softmax"]
    assert softmax.is_global("F") and softmax.is_global("nn") and softmax.is_global("SCALE")
    assert not softmax.is_global("torch")
    assert softmax.node is not None and isinstance(softmax.node, cst.Call)
    assert softmax.qualified_names(softmax.node.func) == {"torch.nn.functional.softmax"}
    assert [cst.Module([]).code_for_node(v) for v in softmax.module_assignments("SCALE")] == ["2.0"]


def test_an_argument_knows_its_call():
    recorder = _Recorder()
    find_sites(parse("y = f(g(x), k=2)\n"), [recorder])
    inner = recorder.seen["g"]
    assert inner.call is not None
    call, arg = inner.call
    assert cst.Module([]).code_for_node(call.func) == "f" and arg.keyword is None


def test_outside_the_engine_the_context_is_empty():
    assert _Recorder().context.node is None
    assert _Recorder().context.function is None
    assert _Recorder().context.value_of(cst.Name("x")) is None


def test_a_rewrite_names_the_bug_of_its_context_on_the_site_and_the_bug():
    sites = find_sites(parse(SOURCE), [_DropoutRemover()])["dropout_remover"]
    assert [s.description for s in sites] == ["attention dropout skipped", "dropout skipped"]
    assert Bug.at(sites[0]).description == "attention dropout skipped"
    assert "return w\n" in mutate_source(SOURCE, _DropoutRemover(), 0)
    assert "return x\n" in mutate_source(SOURCE, _DropoutRemover(), 1)


def test_a_context_aware_site_composes_with_a_nested_bug():
    # the writer offers the rebuilt node, but the context stays the original one's
    source = "class Attention:\n    def f(self, x):\n        return self.drop(self.drop(x))\n"
    module = parse(source)
    remover = _DropoutRemover()
    code = apply_sites(module, {"dropout_remover": remover}, [("dropout_remover", 0), ("dropout_remover", 1)])
    assert code.endswith("return x\n")
