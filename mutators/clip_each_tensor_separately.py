from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._loops import names_in
from ._patterns import callee_name, single_assignment, statement_call

_CLIPS = ("clip_grad_norm_", "clip_grad_norm", "clip_gradients")


class _Replace(cst.CSTTransformer):
    def __init__(self, name: str, by: cst.BaseExpression) -> None:
        super().__init__()
        self.name, self.by = name, by

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        return self.by if updated_node.value == self.name else updated_node

    # attribute and keyword names are not variables
    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        return updated_node.with_changes(attr=original_node.attr)

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        return updated_node.with_changes(keyword=original_node.keyword)


class ClipEachTensorSeparately(Mutator):
    """Gradients are clipped by each tensor's own norm instead of one total norm.

    ``clip_grad_norm_`` scales all gradients by one coefficient computed from the norm of
    every entry together; clipping tensor by tensor (``for p in model.parameters():
    clip_grad_norm_(p, 1.0)``, or a hand-written clip whose norm is computed inside the
    per-gradient loop) changes the direction of the update: small layers are left alone while
    large ones are cut, and the effective threshold grows with the number of tensors.
    Training is still stable, so nothing looks wrong but the final quality. Two site forms: a
    clipping call statement over a collection of parameters, rewritten into a loop over them;
    and in a hand-written clip, the run of assignments that derives the norm from the list of
    gradients right before ``for g in grads:`` (moved into the loop, over ``[g]``).
    """

    bug_id = "clip_each_tensor_separately"
    components = ("grad_clip", "amp")
    category = Category.OPTIMIZATION
    layer = Layer.NUMERICS
    description = "clip every gradient tensor by its own norm instead of by the total norm"
    symptom = "updates change direction under clipping; results differ from clip_grad_norm_"
    hint = "the total norm is the norm of all gradient entries together, one coefficient for all"
    fix = "compute one total norm over every gradient (the norm of the per-tensor norms), then scale all"
    node_types = (cst.SimpleStatementLine, cst.IndentedBlock)
    EXAMPLES = (
        Example(
            "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n",
            "for tensor in model.parameters():\n    torch.nn.utils.clip_grad_norm_(tensor, 1.0)\n",
        ),
        Example(
            "def clip(grads, c):\n"
            "    norms = [g.norm() for g in grads]\n"
            "    total = torch.stack(norms).norm()\n"
            "    for g in grads:\n"
            "        g.mul_(c / total)\n",
            "def clip(grads, c):\n"
            "    for g in grads:\n"
            "        norms = [g.norm() for g in [g]]\n"
            "        total = torch.stack(norms).norm()\n"
            "        g.mul_(c / total)\n",
        ),
    )
    UNCHANGED = (
        "clip_grad_norm_(p, 1.0)\n",
        "def f(grads):\n    n = 2\n    for g in grads:\n        g.mul_(n)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.SimpleStatementLine):
            return self._call_per_tensor(node)
        assert isinstance(node, cst.IndentedBlock)
        return self._norm_inside_loop(node)

    def _call_per_tensor(self, statement: cst.SimpleStatementLine) -> Sequence[Replacement]:
        call = statement_call(statement)
        if (
            call is None
            or callee_name(call) not in _CLIPS
            or not call.args
            or call.args[0].keyword is not None
        ):
            return ()
        collection = call.args[0].value
        # a single tensor (a plain name) may well be one parameter: only collections are sites
        if not m.matches(collection, m.Call() | m.ListComp() | m.List() | m.GeneratorExp()):
            return ()
        tensor = cst.Name("tensor")
        per_tensor = call.with_changes(args=[call.args[0].with_changes(value=tensor), *call.args[1:]])
        return (
            cst.For(
                target=tensor,
                iter=collection,
                body=cst.IndentedBlock(body=[cst.SimpleStatementLine(body=[cst.Expr(per_tensor)])]),
                leading_lines=statement.leading_lines,
            ),
        )

    def _norm_inside_loop(self, block: cst.IndentedBlock) -> Sequence[Replacement]:
        sites = []
        body = list(block.body)
        for index, loop in enumerate(body):
            if not m.matches(loop, m.For(target=m.Name(), iter=m.Name(), body=m.IndentedBlock())):
                continue
            assert (
                isinstance(loop, cst.For)
                and isinstance(loop.target, cst.Name)
                and isinstance(loop.iter, cst.Name)
            )
            start = _chain_start(body[:index], loop.iter.value)
            if start is None:
                continue
            chain = body[start:index]
            # _chain_start took each statement of the chain for a single assignment
            assigned = {found[0] for found in map(single_assignment, chain) if found is not None}
            if not assigned & names_in(loop.body):
                continue
            one = _Replace(loop.iter.value, cst.List([cst.Element(loop.target)]))
            moved = [s.visit(one) for s in chain]
            inner = loop.body.with_changes(body=[*moved, *loop.body.body])
            new_body = [*body[:start], loop.with_changes(body=inner), *body[index + 1 :]]
            sites.append(block.with_changes(body=new_body))
        return sites


def _chain_start(before: Sequence[cst.BaseStatement], collection: str) -> int | None:
    """The start of the run of assignments just before a loop that derives names, one from the
    other, from ``collection``: ``norms = f(grads)``, ``total = g(norms)``, ``coef = h(total)``."""
    start = len(before)
    while start > 0 and single_assignment(before[start - 1]) is not None:
        start -= 1
        if collection in names_in(before[start]):
            break
    else:
        return None
    first = single_assignment(before[start])
    assert first is not None
    if first[0] == collection:
        return None
    known = {first[0]}
    for statement in before[start + 1 :]:
        assigned = single_assignment(statement)
        if assigned is None:
            return None
        name, value = assigned
        if not known & names_in(value):
            return None
        known.add(name)
    return start
