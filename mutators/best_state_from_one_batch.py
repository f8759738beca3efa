from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._loops import names_in
from ._patterns import callee_name, single_assignment


def _averaged_list(value: cst.BaseExpression) -> cst.BaseExpression | None:
    """``L`` of ``sum(L) / len(L)`` or ``mean(L)`` (``statistics.mean``, ``np.mean``)."""
    code = cst.Module(body=[]).code_for_node
    if isinstance(value, cst.Call) and callee_name(value) in ("mean", "fmean") and len(value.args) == 1:
        return value.args[0].value
    if not m.matches(value, m.BinaryOperation(operator=m.Divide(), left=m.Call(), right=m.Call())):
        return None
    assert isinstance(value, cst.BinaryOperation)
    total, count = value.left, value.right
    assert isinstance(total, cst.Call) and isinstance(count, cst.Call)
    if callee_name(total) != "sum" or callee_name(count) != "len":
        return None
    if len(total.args) != 1 or len(count.args) != 1:
        return None
    if code(total.args[0].value) != code(count.args[0].value):
        return None
    return total.args[0].value


def _batch_term(function: cst.FunctionDef, value: cst.BaseExpression) -> cst.BaseExpression | None:
    """``loss.item()`` for ``total / n`` where the function adds ``total += loss.item()``: the
    running sum's one-batch term (only a plain term: ``loss.item() * n`` is no loss on its own)."""
    if not m.matches(value, m.BinaryOperation(operator=m.Divide(), left=m.Name())):
        return None
    assert isinstance(value, cst.BinaryOperation) and isinstance(value.left, cst.Name)
    running = m.AugAssign(target=m.Name(value.left.value), operator=m.AddAssign())
    for augmented in m.findall(function, running):
        assert isinstance(augmented, cst.AugAssign)
        if m.matches(augmented.value, m.Name() | m.Call(func=m.Attribute(attr=m.Name("item")))):
            return augmented.value
    return None


def _compared_with_best(function: cst.FunctionDef, name: str) -> bool:
    """Whether ``name`` meets a ``best...`` name in a comparison of ``function``."""
    for comparison in m.findall(function, m.Comparison()):
        names = names_in(comparison)
        if name in names and any(other.lower().startswith("best") for other in names):
            return True
    return False


def _last_item(items: cst.BaseExpression) -> cst.BaseExpression:
    minus_one = cst.UnaryOperation(cst.Minus(), cst.Integer("1"))
    return cst.Subscript(value=items, slice=[cst.SubscriptElement(cst.Index(minus_one))])


class _Revalued(cst.CSTTransformer):
    """Gives one assignment statement (by identity) another value."""

    def __init__(self, statement: cst.SimpleStatementLine, value: cst.BaseExpression) -> None:
        super().__init__()
        self.statement, self.value = statement, value

    def leave_SimpleStatementLine(
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine:
        if original_node is not self.statement:
            return updated_node
        small = updated_node.body[0]
        assert isinstance(small, (cst.Assign, cst.AnnAssign))
        return updated_node.with_changes(body=[small.with_changes(value=self.value)])


class BestStateFromOneBatch(Mutator):
    """The best epoch is chosen by one batch's loss instead of the epoch's mean.

    The usual form is ``if loss.item() < best_loss:`` after the batch loop: ``loss`` is still
    bound to the last batch, so the "best" checkpoint follows whichever epoch happened to end on
    an easy batch. The comparison runs, a checkpoint is saved, and it is simply not the best
    epoch; with shuffling it changes from run to run. Sites: an epoch loss ``x = sum(L) /
    len(L)`` (or ``mean(L)``) that is compared with a ``best...`` name; it becomes ``L[-1]``,
    the last batch's loss; a running mean ``x = total / n`` of ``total += loss.item()`` becomes
    ``loss.item()``.
    """

    bug_id = "best_state_from_one_batch"
    components = ("training",)
    category = Category.EVALUATION
    layer = Layer.EVALUATION
    description = "choose the best epoch by its last batch's loss instead of its mean loss"
    symptom = "the restored 'best' checkpoint is not the epoch with the lowest loss; it changes between runs"
    hint = "log each epoch's mean loss next to the epoch best_state comes from"
    fix = "compare the epoch's mean loss (sum of the batch losses / their number) with the best so far"
    node_types = (cst.FunctionDef,)
    EXAMPLES = (
        Example(
            "def fit():\n"
            "    for epoch in range(n):\n"
            "        epoch_loss = sum(epoch_losses) / len(epoch_losses)\n"
            "        if epoch_loss < best_loss:\n"
            "            best_loss = epoch_loss\n",
            "def fit():\n"
            "    for epoch in range(n):\n"
            "        epoch_loss = epoch_losses[-1]\n"
            "        if epoch_loss < best_loss:\n"
            "            best_loss = epoch_loss\n",
        ),
        Example(
            "def fit():\n    val = np.mean(losses)\n    if val < best_val:\n        save()\n",
            "def fit():\n    val = losses[-1]\n    if val < best_val:\n        save()\n",
        ),
        Example(  # a running sum, as in most tutorials
            "def fit():\n"
            "    for epoch in range(n):\n"
            "        running_loss = 0.0\n"
            "        for x, y in loader:\n"
            "            loss = criterion(model(x), y)\n"
            "            running_loss += loss.item()\n"
            "        epoch_loss = running_loss / len(loader)\n"
            "        if epoch_loss < best_loss:\n"
            "            best_wts = copy.deepcopy(model.state_dict())\n",
            "def fit():\n"
            "    for epoch in range(n):\n"
            "        running_loss = 0.0\n"
            "        for x, y in loader:\n"
            "            loss = criterion(model(x), y)\n"
            "            running_loss += loss.item()\n"
            "        epoch_loss = loss.item()\n"
            "        if epoch_loss < best_loss:\n"
            "            best_wts = copy.deepcopy(model.state_dict())\n",
        ),
    )
    UNCHANGED = (
        "def report():\n    average = sum(losses) / len(losses)\n    print(average)\n",
        "def fit():\n    loss = sum(a) / len(b)\n    if loss < best:\n        save()\n",
        "def fit():\n    loss = losses[-1]\n    if loss < best:\n        save()\n",
        "def fit():\n    total += loss.item() * n\n    mean = total / count\n"
        "    if mean < best:\n        save()\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.FunctionDef)
        sites = []
        for statement in m.findall(node, m.SimpleStatementLine()):
            assert isinstance(statement, cst.SimpleStatementLine)
            assigned = single_assignment(statement)
            if assigned is None:
                continue
            name, value = assigned
            averaged = _averaged_list(value)
            one_batch = _last_item(averaged) if averaged is not None else _batch_term(node, value)
            if one_batch is None or not _compared_with_best(node, name):
                continue
            sites.append(node.visit(_Revalued(statement, one_batch)))
        return sites
