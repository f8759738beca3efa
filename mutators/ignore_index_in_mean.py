from __future__ import annotations

from pytest_mlbugs.api import Category, Example, Layer, Mutator

from ._numerics import DivideByNumel


class IgnoreIndexInMean(DivideByNumel, Mutator):
    """The mean of a loss with ignored targets divides by all targets, not the counted ones.

    The ignored positions (padding, ``ignore_index``) are zeroed in the sum but still counted
    in the denominator, as ``loss.sum() / targets.numel()`` or a plain ``.mean()`` over the
    masked losses does. The loss shrinks with the share of padding: batches of short sequences
    look better, the effective learning rate depends on the padding, and the reported loss
    is not comparable with ``F.cross_entropy(..., ignore_index=...)``. The site is a division
    by the count of a mask (``valid.sum()``, a full reduction without an axis) in a loss (its
    names, or the function's, say so); elsewhere it is ``masked_mean_full_length``'s.
    """

    bug_id = "ignore_index_in_mean"
    components = ("numerics", "lm_loss")
    category = Category.TARGET
    layer = Layer.TARGET
    description = "the loss mean divides by every target, including the ignored ones"
    symptom = "loss falls as the amount of padding grows; batches of short sequences look better"
    hint = "compare the loss with F.cross_entropy(..., ignore_index=...) on a padded batch"
    fix = "divide the masked sum by the number of counted targets (mask.sum()), not by numel()"
    EXAMPLES = (
        Example("loss = masked.sum() / valid.sum()\n", "loss = masked.sum() / valid.numel()\n"),
        Example("loss = s / torch.sum(keep)\n", "loss = s / keep.numel()\n"),
    )
    UNCHANGED = ("p = e / e.sum(dim=-1, keepdim=True)\n", "loss = s / n\n", "mean = total / mask.sum()\n")
    of_a_loss = True
