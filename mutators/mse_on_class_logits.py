from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._context import name_available
from ._loops import names_in
from ._numerics import atom_code, code, is_module_call, operand
from ._patterns import argument, callee_name, dotted_name, single_assignment

#: the names under which ``torch.nn.functional`` is called
_FUNCTIONAL = ("F", "functional", "nn.functional", "torch.nn.functional")


class MseOnClassLogits(Mutator):
    """A classifier is trained with mean squared error against one-hot targets instead of
    cross entropy.

    ``F.mse_loss(logits, F.one_hot(y, C).float())`` runs, and the loss goes down: it pulls
    every logit towards 0 or 1 instead of growing the margin of the right class. Its gradient
    is bounded, so confident wrong predictions are hardly corrected; with a softmax in front
    the gradient vanishes outright. Accuracy plateaus below what the model can reach, and the
    reported "loss" is no longer a log-likelihood, so it cannot be compared with anything.
    Sites are calls of ``cross_entropy(logits, targets)`` from ``torch.nn.functional`` (with
    at most a ``reduction=``), and, in a hand-written loss, the negative log-likelihood read
    from log-probabilities of ``log_softmax(logits)`` (``-lp.gather(-1, t.unsqueeze(-1))``,
    ``-lp[rows, t]`` or ``nll_loss(lp, t)``): it becomes the squared error of the logits
    themselves, and the now unused ``log_softmax`` line goes.
    """

    bug_id = "mse_on_class_logits"
    components = ("numerics",)
    category = Category.OBJECTIVE
    layer = Layer.LOSS
    description = "mean squared error of class logits against one-hot targets instead of cross entropy"
    symptom = "loss goes down but accuracy plateaus low; confident wrong predictions are barely corrected"
    hint = "which loss does a classifier need? look for mse_loss next to one_hot"
    fix = "use cross_entropy on the raw logits with class-index targets"
    node_types = (cst.Call, cst.FunctionDef)
    EXAMPLES = (
        Example(
            "loss = F.cross_entropy(logits, y)\n",
            "loss = F.mse_loss(logits, F.one_hot(y, logits.shape[-1]).to(logits.dtype))\n",
        ),
        Example(
            'total += F.cross_entropy(out, t, reduction="sum").item()\n',
            'total += F.mse_loss(out, F.one_hot(t, out.shape[-1]).to(out.dtype), reduction="sum").item()\n',
        ),
        Example(
            "def ce(logits, t):\n"
            "    lp = log_softmax(logits, dim=-1)\n"
            "    return -lp.gather(-1, t.unsqueeze(-1)).mean()\n",
            "def ce(logits, t):\n"
            "    return ((logits - torch.nn.functional.one_hot(t, logits.shape[-1]).to(logits.dtype)) ** 2)"
            ".mean(dim=-1, keepdim=True).mean()\n",
        ),
        Example(
            "def ce(z, t):\n"
            "    lp = F.log_softmax(z, -1)\n"
            "    return -lp.gather(1, t[:, None]).squeeze(1).sum()\n",
            "def ce(z, t):\n"
            "    return ((z - F.one_hot(t, z.shape[-1]).to(z.dtype)) ** 2).mean(dim=-1).sum()\n",
        ),
        Example(
            "def ce(z, t):\n"
            "    lp = z.log_softmax(-1)\n"
            "    nll = -lp[torch.arange(len(t)), t]\n"
            "    return nll.mean()\n",
            "def ce(z, t):\n"
            "    nll = ((z - torch.nn.functional.one_hot(t, z.shape[-1]).to(z.dtype)) ** 2).mean(dim=-1)\n"
            "    return nll.mean()\n",
        ),
        Example(
            "def ce(z, t):\n    lp = F.log_softmax(z, dim=1)\n    return F.nll_loss(lp, t)\n",
            "def ce(z, t):\n    return F.mse_loss(z, F.one_hot(t, z.shape[-1]).to(z.dtype))\n",
        ),
    )
    UNCHANGED = (
        "loss = F.cross_entropy(logits, y, ignore_index=-1)\n",
        "loss = F.binary_cross_entropy_with_logits(logits, y)\n",
        "loss = cross_entropy(logits, y)\n",
        "def ce(z, t, lp):\n    return -lp.gather(-1, t.unsqueeze(-1)).mean()\n",
        "def kl(z, t):\n    lp = z.log_softmax(-1)\n    return (lp.exp() * lp).sum()\n",
        "def ce(model, x, t):\n    lp = F.log_softmax(model(x), -1)\n    return F.nll_loss(lp, t)\n",
        "def nll0(z):\n    lp = z.log_softmax(-1)\n    return -lp[:, 0].mean()\n",
        "def nll0(z, rows):\n    lp = z.log_softmax(-1)\n    return -lp[rows, 0].mean()\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.Call):
            return self._functional_call(node)
        assert isinstance(node, cst.FunctionDef)
        return self._hand_written(node)

    def _functional_call(self, node: cst.Call) -> Sequence[Replacement]:
        if callee_name(node) != "cross_entropy" or not isinstance(node.func, cst.Attribute):
            return ()
        prefix = dotted_name(node.func.value)
        if prefix not in _FUNCTIONAL:
            return ()
        positional = [a for a in node.args if a.keyword is None and a.star == ""]
        others = [a for a in node.args if a not in positional]
        if len(positional) != 2 or any(a.keyword is None or a.keyword.value != "reduction" for a in others):
            return ()
        reduction = "".join(f", reduction={code(a.value)}" for a in others)
        logits, targets = positional[0].value, positional[1].value
        if isinstance(logits, cst.Call):
            return ()  # the rewrite reads the logits three times: model(x) would run three times
        return (cst.parse_expression(_mse(prefix, logits, targets) + reduction + ")"),)

    def _hand_written(self, node: cst.FunctionDef) -> Sequence[Replacement]:
        if not isinstance(node.body, cst.IndentedBlock):
            return ()
        lines = list(node.body.body)
        for i, line in enumerate(lines):
            assigned = single_assignment(line)
            if assigned is None:
                continue
            name, value = assigned
            logits = _log_softmax_operand(value)
            # the logits are read again, once per use: a call (model(x)) would run again
            if not isinstance(logits, cst.Name | cst.Attribute):
                continue
            prefix = "F" if "F" in _heads(node) else "torch.nn.functional"
            if prefix != "F" and not name_available(self.context, "torch"):
                return ()
            rewriter = _NllRewriter(name, logits, prefix)
            rest = [_rewritten(later, rewriter) for later in lines[i + 1 :]]
            if not rewriter.rewritten:
                continue
            still_used = any(name in names_in(later) for later in rest)
            kept = [line] if still_used else []
            body = node.body.with_changes(body=[*lines[:i], *kept, *rest])
            return (node.with_changes(body=body),)
        return ()


def _mse(prefix: str, logits: cst.BaseExpression, targets: cst.BaseExpression) -> str:
    """The start of ``mse_loss(logits, one_hot(targets))``, without its closing parenthesis."""
    x = atom_code(logits)
    return f"{prefix}.mse_loss({code(logits)}, {prefix}.one_hot({code(targets)}, {x}.shape[-1]).to({x}.dtype)"


def _squared_error(
    prefix: str, logits: cst.BaseExpression, targets: cst.BaseExpression, keepdim: bool
) -> str:
    x = atom_code(logits)
    one_hot = f"{prefix}.one_hot({code(targets)}, {x}.shape[-1]).to({x}.dtype)"
    return f"(({x} - {one_hot}) ** 2).mean(dim=-1{', keepdim=True' if keepdim else ''})"


def _log_softmax_operand(value: cst.BaseExpression) -> cst.BaseExpression | None:
    """``z`` of ``log_softmax(z, ...)``, ``F.log_softmax(z, ...)`` or ``z.log_softmax(...)``."""
    if isinstance(value, cst.Call) and callee_name(value) == "log_softmax":
        return operand(value)
    return None


def _gathered_targets(index: cst.BaseExpression) -> cst.BaseExpression | None:
    """``t`` of the gather index ``t.unsqueeze(-1)``, ``t.unsqueeze(1)``, ``t.view(-1, 1)`` or
    ``t[:, None]``."""
    if isinstance(index, cst.Call) and callee_name(index) in ("unsqueeze", "view", "reshape"):
        return None if is_module_call(index) else operand(index)
    if isinstance(index, cst.Subscript) and len(index.slice) == 2:
        last = index.slice[1].slice
        if isinstance(last, cst.Index) and isinstance(last.value, cst.Name) and last.value.value == "None":
            return index.value
    return None


class _NllRewriter(cst.CSTTransformer):
    """Replaces the negative log-likelihood read from ``name`` (log-probabilities of ``logits``)
    by the squared error of ``logits`` against one-hot targets."""

    def __init__(self, name: str, logits: cst.BaseExpression, prefix: str) -> None:
        super().__init__()
        self.name, self.logits, self.prefix = name, logits, prefix
        self.rewritten = False

    def _reads_name(self, expr: cst.BaseExpression) -> bool:
        return isinstance(expr, cst.Name) and expr.value == self.name

    def _picked(self, expr: cst.BaseExpression, keepdim: bool = True) -> str | None:
        """The squared error standing in for ``lp.gather(d, t[:, None])`` or ``lp[rows, t]``."""
        if isinstance(expr, cst.Call) and callee_name(expr) == "gather" and not is_module_call(expr):
            found = argument(expr, keyword="index", position=1)
            assert isinstance(expr.func, cst.Attribute)
            if found is None or not self._reads_name(expr.func.value):
                return None
            targets = _gathered_targets(found[1].value)
            return None if targets is None else _squared_error(self.prefix, self.logits, targets, keepdim)
        if isinstance(expr, cst.Subscript) and self._reads_name(expr.value) and len(expr.slice) == 2:
            rows, last = expr.slice[0].slice, expr.slice[1].slice
            # lp[rows, targets] picks a class per row; lp[:, 0] is one class's column
            if isinstance(rows, cst.Index) and isinstance(last, cst.Index) and names_in(last.value):
                return _squared_error(self.prefix, self.logits, last.value, False)
        return None

    def leave_UnaryOperation(
        self, original_node: cst.UnaryOperation, updated_node: cst.UnaryOperation
    ) -> cst.BaseExpression:
        if not isinstance(updated_node.operator, cst.Minus):
            return updated_node
        # -lp.gather(...).squeeze(-1).mean(): follow the method chain down to the pick
        chain: list[cst.Call] = []
        expr = updated_node.expression
        while isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
            picked = self._picked(expr)
            if picked is not None:
                break
            chain.append(expr)
            expr = expr.func.value
        # gather keeps the class axis; the squeeze right after it goes with it
        squeezed = bool(chain) and callee_name(chain[-1]) == "squeeze"
        picked = self._picked(expr, keepdim=not squeezed)
        if picked is None:
            return updated_node
        if squeezed:
            chain.pop()
        result: cst.BaseExpression = cst.parse_expression(picked)
        for call in reversed(chain):
            assert isinstance(call.func, cst.Attribute)
            result = call.with_changes(func=call.func.with_changes(value=result))
        self.rewritten = True
        return result.with_changes(lpar=updated_node.lpar, rpar=updated_node.rpar)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if callee_name(updated_node) != "nll_loss" or not isinstance(updated_node.func, cst.Attribute):
            return updated_node
        prefix = dotted_name(updated_node.func.value)
        positional = [a for a in updated_node.args if a.keyword is None and a.star == ""]
        if prefix not in _FUNCTIONAL or len(positional) != 2 or not self._reads_name(positional[0].value):
            return updated_node
        others = [a for a in updated_node.args if a not in positional]
        if any(a.keyword is None or a.keyword.value != "reduction" for a in others):
            return updated_node
        reduction = "".join(f", reduction={code(a.value)}" for a in others)
        self.rewritten = True
        return cst.parse_expression(_mse(prefix, self.logits, positional[1].value) + reduction + ")")


def _rewritten(line: cst.BaseStatement, rewriter: _NllRewriter) -> cst.BaseStatement:
    result = line.visit(rewriter)
    assert isinstance(result, cst.BaseStatement)  # the rewriter replaces expressions only
    return result


def _heads(node: cst.CSTNode) -> set[str]:
    """The first names of the dotted names used in ``node`` (``F`` for ``F.relu``)."""
    heads: set[str] = set()

    class Collect(cst.CSTVisitor):
        def visit_Attribute(self, attribute: cst.Attribute) -> bool:
            name = dotted_name(attribute)
            if name is not None:
                heads.add(name.split(".")[0])
            return True

    node.visit(Collect())
    return heads
