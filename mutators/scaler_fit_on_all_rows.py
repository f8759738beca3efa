from __future__ import annotations

import re
from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, SiteContext

from ._context import name_available
from ._patterns import callee_name

_STATISTICS = ("mean", "std", "var", "std_mean", "var_mean", "amin", "amax", "min", "max")
_TRAIN = re.compile("train", re.IGNORECASE)


class ScalerFitOnAllRows(Mutator):
    """The scaling statistics are computed on the training and the test rows together.

    Fitting a scaler before splitting, or on ``torch.cat([X_train, X_test])`` "to use all the
    data", lets every test row shift the mean and the spread the model is trained with: the
    test score is measured on data the preprocessing has already seen and comes out better
    than it will be on new data. Nothing crashes and the numbers look cleaner. A site is a
    mean/std/var/min/max taken of a variable whose name says "train" (``X_train.mean(0)``,
    ``torch.std(train_x, 0)``); the test split is the same name with "test" for "train".
    Statistics of variables named otherwise cannot be told apart from the text, and where no
    test split of that name exists the rewrite would read an undefined name: no site.
    """

    bug_id = "scaler_fit_on_all_rows"
    components = ("data",)
    category = Category.DATA
    layer = Layer.DATA
    description = "fit the standardization statistics on train and test rows together"
    symptom = "validation accuracy suspiciously high, then worse on really new data"
    hint = "which rows do the mean and the standard deviation of the scaler come from?"
    fix = "compute the statistics from the training rows only and apply them to both splits"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("mean = X_train.mean(dim=0)\n", "mean = torch.cat([X_train, X_test]).mean(dim=0)\n"),
        Example("s = torch.std(train_x, 0)\n", "s = torch.std(torch.cat([train_x, test_x]), 0)\n"),
    )
    UNCHANGED = (
        "mean = features.mean(dim=0)\n",
        "n = X_train.sum(0)\n",
        "import torch\ndef stats(X_train):\n    return X_train.mean(dim=0)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if callee_name(node) not in _STATISTICS or not isinstance(node.func, cst.Attribute):
            return ()
        if not name_available(self.context, "torch"):
            return ()  # the rewrite spells torch: a NameError where it is not imported
        receiver = node.func.value
        context = self.context
        if isinstance(receiver, cst.Name) and _TRAIN.search(receiver.value):
            if not _test_split_exists(context, receiver):
                return ()
            return (node.with_changes(func=node.func.with_changes(value=_all_rows(receiver))),)
        if isinstance(receiver, cst.Name) and receiver.value == "torch" and node.args:
            data = node.args[0].value
            if isinstance(data, cst.Name) and _TRAIN.search(data.value) and _test_split_exists(context, data):
                args = [node.args[0].with_changes(value=_all_rows(data)), *node.args[1:]]
                return (node.with_changes(args=args),)
        return ()


def _test_name(train: cst.Name) -> str:
    return _TRAIN.sub(lambda found: "TEST" if found.group().isupper() else "test", train.value)


def _test_split_exists(context: SiteContext, train: cst.Name) -> bool:
    """Whether the test split's name is bound where the statistics are taken (a parameter, an
    assignment in the function, a global): the rewrite reads it."""
    test = _test_name(train)
    function = context.function
    if function is not None and test in {p.name.value for p in function.params.params}:
        return True
    return bool(context.assignments(test)) or name_available(context, test)


def _all_rows(train: cst.Name) -> cst.Call:
    test = cst.Name(_test_name(train))
    rows = cst.List([cst.Element(train), cst.Element(test)])
    return cst.Call(cst.Attribute(cst.Name("torch"), cst.Name("cat")), [cst.Arg(rows)])
