from __future__ import annotations

from pytest_mlbugs.api import Category, Example, Layer, Mutator

from ._numerics import DivideByNumel


class MaskedMeanFullLength(DivideByNumel, Mutator):
    """A masked mean divides the masked sum by the full length instead of the mask's count.

    The padded positions are zeroed correctly, but the denominator is the padded length
    (``numel()``, ``T``, ``values.shape[1]``), so every sequence's mean is scaled by its
    real length over the padded one: short sequences look better, and a metric or loss moves
    with the padding of the batch it happens to be in. The site is a division by the count of
    a mask (``mask.sum()`` with no axis) outside a loss (a loss's is ``ignore_index_in_mean``);
    an axis-wise sum normalizes something else.
    """

    bug_id = "masked_mean_full_length"
    components = ("metrics",)
    category = Category.EVALUATION
    layer = Layer.EVALUATION
    description = "masked mean divides by the full (padded) length instead of the number of kept positions"
    symptom = "validation metric improves when batches get more padding; differs between batch sizes"
    hint = "evaluate the same examples padded to two lengths and compare"
    fix = "divide by mask.sum() (the number of True positions), guarded against zero"
    EXAMPLES = (Example("mean = total / mask.sum()\n", "mean = total / mask.numel()\n"),)
    UNCHANGED = ("p = e / e.sum(-1, keepdim=True)\n", "mean = total / length\n", "loss = s / valid.sum()\n")
    of_a_loss = False
