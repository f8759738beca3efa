from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, Rewrite

from ._attention import replace_nodes
from ._context import code, words
from ._loops import is_batch_size
from ._patterns import dotted_name


def _weighted_sum(node: cst.CSTNode) -> tuple[str, cst.BaseExpression, str] | None:
    """``(total, value, weight)`` for ``total += value * weight`` (or ``weight * value``)
    where ``weight`` is a batch size (``n``, ``targets.size(0)``, ``len(batch)``), as code."""
    if not m.matches(
        node,
        m.AugAssign(target=m.Name(), operator=m.AddAssign(), value=m.BinaryOperation(operator=m.Multiply())),
    ):
        return None
    assert isinstance(node, cst.AugAssign) and isinstance(node.target, cst.Name)
    product = node.value
    assert isinstance(product, cst.BinaryOperation)
    for value, weight in ((product.left, product.right), (product.right, product.left)):
        if is_batch_size(weight) and not m.matches(value, m.Name() | m.Integer() | m.Float()):
            return node.target.value, value, code(weight)
    return None


class _Rewrite(cst.CSTTransformer):
    def __init__(self, total: str, count: str, weight: str, iterable: cst.BaseExpression) -> None:
        super().__init__()
        self.total, self.count, self.weight, self.iterable = total, count, weight, iterable
        self.divisions = 0

    def leave_AugAssign(self, original_node: cst.AugAssign, updated_node: cst.AugAssign) -> cst.AugAssign:
        found = _weighted_sum(original_node)
        if found is not None and found[0] == self.total and found[2] == self.weight:
            return updated_node.with_changes(value=found[1])
        return updated_node

    def leave_BinaryOperation(
        self, original_node: cst.BinaryOperation, updated_node: cst.BinaryOperation
    ) -> cst.BaseExpression:
        # the examples seen: ``total / count``, or the dataset's length where no count is kept
        dataset_length = m.Call(func=m.Name("len"), args=[m.Arg(value=m.Attribute(attr=m.Name("dataset")))])
        if m.matches(
            original_node,
            m.BinaryOperation(
                left=m.Name(self.total), operator=m.Divide(), right=m.Name(self.count) | dataset_length
            ),
        ):
            self.divisions += 1
            length = cst.Call(func=cst.Name("len"), args=[cst.Arg(self.iterable)])
            return updated_node.with_changes(right=length)
        return updated_node


class MeanOfBatchMeans(Mutator):
    """The dataset mean is taken as the mean of the batch means.

    ``criterion`` already averages over a batch; summing those means and dividing by the
    number of batches weighs a short last batch as much as a full one, so the reported loss
    drifts with the batch size and ``drop_last``, and no longer equals the loss over all
    examples. The difference is small, which is why it survives: it shows when comparing runs
    with different batch sizes. Sites: a loop with ``total += value * n`` and ``count += n``,
    followed by ``total / count``, or with no count and ``total / len(loader.dataset)`` (``n`` a
    name, ``targets.size(0)``, ``x.shape[0]`` or ``len(batch)``), rewritten to ``total += value``
    and ``total / len(loader)``;
    a loss summed with ``reduction="sum"`` and divided by ``len(loader.dataset)``, rewritten to
    the default mean divided by ``len(loader)``; and an average meter's ``update(value, n)``,
    which loses its ``n``.
    """

    bug_id = "mean_of_batch_means"
    components = ("evaluation",)
    category = Category.EVALUATION
    layer = Layer.EVALUATION
    description = "average the batch mean losses instead of weighting every example equally"
    symptom = "the validation loss changes with the batch size; it differs from the loss on all data at once"
    hint = "evaluate with batch_size=len(dataset) and compare"
    fix = "total += loss.item() * batch_size; ...; total / number_of_examples"
    node_types = (cst.FunctionDef, cst.Call)
    EXAMPLES = (
        Example(
            "def f(loader):\n"
            "    for x, y in loader:\n"
            "        n = y.size(0)\n"
            "        total += crit(x, y).item() * n\n"
            "        count += n\n"
            "    return total / count\n",
            "def f(loader):\n"
            "    for x, y in loader:\n"
            "        n = y.size(0)\n"
            "        total += crit(x, y).item()\n"
            "        count += n\n"
            "    return total / len(loader)\n",
        ),
        Example(  # the PyTorch tutorials: the size inline, the dataset's length as the count
            "def f(dataloader):\n"
            "    for inputs, labels in dataloader:\n"
            "        running_loss += loss.item() * inputs.size(0)\n"
            "    return running_loss / len(dataloader.dataset)\n",
            "def f(dataloader):\n"
            "    for inputs, labels in dataloader:\n"
            "        running_loss += loss.item()\n"
            "    return running_loss / len(dataloader)\n",
        ),
        Example(
            "def f(batches):\n"
            "    for batch in batches:\n"
            "        total += step(batch).item() * len(batch)\n"
            "        seen += len(batch)\n"
            "    return total / seen\n",
            "def f(batches):\n"
            "    for batch in batches:\n"
            "        total += step(batch).item()\n"
            "        seen += len(batch)\n"
            "    return total / len(batches)\n",
        ),
        Example("losses.update(loss.item(), images.size(0))\n", "losses.update(loss.item())\n"),
        Example(
            "def test(model, loader):\n"
            "    test_loss = 0\n"
            "    for data, target in loader:\n"
            "        test_loss += F.nll_loss(model(data), target, reduction='sum').item()\n"
            "    test_loss /= len(loader.dataset)\n"
            "    return test_loss\n",
            "def test(model, loader):\n"
            "    test_loss = 0\n"
            "    for data, target in loader:\n"
            "        test_loss += F.nll_loss(model(data), target).item()\n"
            "    test_loss /= len(loader)\n"
            "    return test_loss\n",
        ),
    )
    UNCHANGED = (
        "batch_time.update(time.time() - end)\n",
        "config.update(defaults, strict)\n",
        "losses.update(loss.item(), 1)\n",
        "def f(loader):\n    for x, y in loader:\n        total += crit(x, y).item()\n"
        "    return total / len(loader)\n",
        "def f(loader):\n    for x, y in loader:\n        total += crit(x, y).item() * y.size(0)\n"
        "        count += x.size(1)\n    return total / count\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement | Rewrite]:
        if isinstance(node, cst.Call):
            return _meter_update(node)
        assert isinstance(node, cst.FunctionDef)
        sites: list[Replacement] = list(_summed_over_dataset(node))
        for loop in m.findall(node, m.For()):
            assert isinstance(loop, cst.For)
            counting = m.AugAssign(target=m.Name(), operator=m.AddAssign())
            counts = {}  # count name -> the batch size it adds up: `seen += targets.size(0)`
            for augmented in m.findall(loop.body, counting):
                assert isinstance(augmented, cst.AugAssign) and isinstance(augmented.target, cst.Name)
                if is_batch_size(augmented.value):
                    counts[augmented.target.value] = code(augmented.value)
            for statement in m.findall(loop.body, m.AugAssign()):
                found = _weighted_sum(statement)
                if found is None:
                    continue
                total, _, weight = found
                # a count of the same sizes, or none (the division is by len(loader.dataset))
                for count in [c for c, counted in counts.items() if counted == weight] or [""]:
                    rewrite = _Rewrite(total, count, weight, loop.iter)
                    changed = node.visit(rewrite)
                    if rewrite.divisions:
                        sites.append(changed)
        return sites


#: words of an average meter (``losses``, ``top1_m``, ``acc_meter``)
_METER_WORDS = frozenset(("losses", "loss", "meter", "meters", "top", "acc", "accuracy", "m", "avg"))


def _meter_update(call: cst.Call) -> Sequence[Replacement | Rewrite]:
    """``meter.update(value, n)`` without its ``n``: every batch weighs one."""
    if not m.matches(call.func, m.Attribute(attr=m.Name("update"))) or len(call.args) != 2:
        return ()
    assert isinstance(call.func, cst.Attribute)
    receiver = dotted_name(call.func.value)
    value, weight = call.args
    if receiver is None or not words(receiver.split(".")[-1]) & _METER_WORDS:
        return ()
    if value.keyword is not None or value.star or weight.star or m.matches(weight.value, m.Integer("1")):
        return ()
    if weight.keyword is not None and weight.keyword.value != "n":
        return ()
    unweighted = call.with_changes(args=[value.with_changes(comma=cst.MaybeSentinel.DEFAULT)])
    if "loss" in code(value.value) or "loss" in receiver:
        return (unweighted,)
    return (
        Rewrite(unweighted, "average the batch means of a metric instead of weighting every example equally"),
    )


def _summed_over_dataset(function: cst.FunctionDef) -> list[cst.FunctionDef]:
    """``total += loss_fn(..., reduction="sum")...`` and ``total /= len(loader.dataset)``
    rewritten to the mean of the batch means: the default reduction, divided by ``len(loader)``."""
    sites = []
    for augmented in m.findall(function, m.AugAssign(target=m.Name(), operator=m.AddAssign())):
        assert isinstance(augmented, cst.AugAssign) and isinstance(augmented.target, cst.Name)
        total = augmented.target.value
        summed = [
            c
            for c in m.findall(augmented.value, m.Call())
            if isinstance(c, cst.Call) and any(_is_sum_reduction(a) for a in c.args)
        ]
        if len(summed) != 1:
            continue
        divisions = [
            d
            for d in [
                *m.findall(function, m.AugAssign(target=m.Name(total), operator=m.DivideAssign())),
                *m.findall(function, m.BinaryOperation(left=m.Name(total), operator=m.Divide())),
            ]
            if isinstance(d, cst.AugAssign | cst.BinaryOperation) and _dataset_length(_divisor(d)) is not None
        ]
        if not divisions:
            continue
        (loss_call,) = summed
        replacements: dict[int, cst.CSTNode] = {
            id(loss_call): loss_call.with_changes(args=_without_reduction(loss_call.args))
        }
        for division in divisions:
            length = _divisor(division)
            loader = _dataset_length(length)
            assert loader is not None and isinstance(length, cst.Call)
            batches = length.with_changes(args=[length.args[0].with_changes(value=loader)])
            if isinstance(division, cst.AugAssign):
                replacements[id(division)] = division.with_changes(value=batches)
            else:
                replacements[id(division)] = division.with_changes(right=batches)
        changed = replace_nodes(function, replacements)
        assert isinstance(changed, cst.FunctionDef)
        sites.append(changed)
    return sites


def _divisor(division: cst.AugAssign | cst.BinaryOperation) -> cst.BaseExpression:
    """What ``total /= x`` or ``total / x`` divides by."""
    return division.value if isinstance(division, cst.AugAssign) else division.right


def _is_sum_reduction(arg: cst.Arg) -> bool:
    return (
        arg.keyword is not None
        and arg.keyword.value == "reduction"
        and isinstance(arg.value, cst.SimpleString)
        and arg.value.evaluated_value == "sum"
    )


def _without_reduction(args: Sequence[cst.Arg]) -> list[cst.Arg]:
    kept = [a for a in args if not _is_sum_reduction(a)]
    if kept:
        kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return kept


def _dataset_length(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """``loader`` of ``len(loader.dataset)``."""
    if m.matches(expr, m.Call(func=m.Name("len"), args=[m.Arg(value=m.Attribute(attr=m.Name("dataset")))])):
        assert isinstance(expr, cst.Call) and isinstance(expr.args[0].value, cst.Attribute)
        return expr.args[0].value.value
    return None
