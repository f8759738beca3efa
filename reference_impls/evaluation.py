"""Accuracy and mean loss of a classifier over a dataset.

Contract 8 of docs/contracts.md:
``evaluate_model(model, dataloader, criterion) -> (accuracy_percent, mean_loss)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn


def evaluate_model(
    model: nn.Module,
    dataloader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> tuple[float, float]:
    """Evaluate ``model`` in eval mode, without building an autograd graph.

    Args:
        dataloader: batches of ``(inputs (B, ...), class indices (B,))``.
        criterion: a loss that averages over the batch (as ``nn.CrossEntropyLoss()``).

    Returns:
        ``(accuracy in percent, mean loss per example)`` as Python floats; every example
        weighs the same, so a short last batch counts by its size. The model is left in the
        train/eval mode it had before the call.
    """
    was_training = model.training
    model.eval()  # dropout off, batch norm on its running statistics
    total_loss = 0.0
    correct = 0
    total = 0
    with torch.no_grad():
        for inputs, targets in dataloader:
            outputs = model(inputs)  # (B, num_classes)
            loss = criterion(outputs, targets)
            batch_size = targets.size(0)
            total_loss += loss.item() * batch_size  # the criterion averaged over this batch
            correct += (outputs.argmax(dim=-1) == targets).sum().item()
            total += batch_size
    model.train(was_training)
    return 100.0 * correct / total, total_loss / total
