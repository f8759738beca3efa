"""Reference of the ``label_smoothing`` contract: smoothed one-hot targets.

Label smoothing (Szegedy et al., 2016) moves ``smoothing`` of the probability mass off the true
class and spreads it evenly over all ``num_classes`` classes, so each row stays a distribution.
``F.cross_entropy(logits, targets, label_smoothing=s)`` is the cross-entropy against these targets.
"""

from __future__ import annotations

import torch
from torch import Tensor


def smooth_targets(targets: Tensor, num_classes: int, smoothing: float = 0.1) -> Tensor:
    """Smoothed one-hot targets.

    Args:
        targets: class indices, shape ``(N,)``, dtype ``int64``.
        num_classes: the number of classes ``C``.
        smoothing: the probability mass spread over all classes, in ``[0, 1)``.

    Returns:
        ``(N, C)`` float32 targets: ``1 - smoothing + smoothing / C`` on the true class and
        ``smoothing / C`` elsewhere; every row sums to 1.
    """
    one_hot = torch.nn.functional.one_hot(targets, num_classes).to(torch.float32)  # (N, C)
    return one_hot * (1.0 - smoothing) + smoothing / num_classes
