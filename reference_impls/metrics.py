"""Classification metrics and a masked mean.

Contract 10 of docs/contracts.md. Every metric but ``masked_mean`` returns a Python ``float`` in
[0, 1]; ``masked_mean`` returns a tensor, so that it can serve as a loss reduction.
"""

from __future__ import annotations

import torch


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose highest-scoring class is the label.

    Args:
        logits: (N, C) scores.
        labels: (N,) class indices.
    """
    predictions = logits.argmax(dim=-1)  # (N,): the class axis is the last one
    return (predictions == labels).float().mean().item()


def binary_accuracy(logits: torch.Tensor, labels: torch.Tensor, threshold: float = 0.5) -> float:
    """Fraction of positions where ``sigmoid(logits) >= threshold`` agrees with ``labels``.

    Args:
        logits: (N,) or any shape; one logit per binary decision.
        labels: same shape, 0/1 (float, integer or bool).
        threshold: a probability; a probability equal to it counts as positive.
    """
    predictions = torch.sigmoid(logits) >= threshold
    return (predictions == labels.bool()).float().mean().item()


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over the positions where ``mask`` is True.

    Args:
        values: any shape.
        mask: boolean, the shape of ``values`` or a leading-dimension prefix of it (a (B, T)
            padding mask for (B, T, D) values).

    Returns:
        a 0-d tensor.
    """
    # a prefix mask covers every trailing element of its position
    mask = mask.reshape(mask.shape + (1,) * (values.ndim - mask.ndim)).expand_as(values)
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    return total / mask.sum()


def f1_score(preds: torch.Tensor, labels: torch.Tensor, num_classes: int, average: str = "macro") -> float:
    """F1 of predicted class indices against labels.

    Args:
        preds: (N,) predicted class indices.
        labels: (N,) true class indices.
        num_classes: the number of classes C.
        average: "macro" (unweighted mean of the per-class F1 over the classes present in the
            labels or the predictions) or "micro" (F1 of the pooled counts).
    """
    classes = torch.arange(num_classes, device=preds.device)
    predicted = preds.unsqueeze(-1) == classes  # (N, C)
    actual = labels.unsqueeze(-1) == classes  # (N, C)
    present = predicted.any(dim=0) | actual.any(dim=0)  # (C,)
    if average == "micro":  # pool the counts of every class first
        predicted, actual = predicted.flatten(), actual.flatten()
    elif average != "macro":
        raise ValueError(f"average must be 'macro' or 'micro', got {average!r}")
    true_positives = (predicted & actual).sum(dim=0)  # (C,), or a 0-d total for micro
    predicted_counts = predicted.sum(dim=0)
    supports = actual.sum(dim=0)
    # a class never predicted (or never labelled) has a zero count: its precision (recall) is 0
    precision = true_positives / predicted_counts.clamp(min=1)
    recall = true_positives / supports.clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    if average == "macro":
        f1 = f1[present]
    return f1.mean().item()
