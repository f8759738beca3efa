"""Training and evaluation loops for :class:`tinyclf.model.Classifier`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def train_epoch(model: nn.Module, batches, optimizer: torch.optim.Optimizer, criterion) -> list[float]:
    """One pass over ``batches``; the loss of each batch as a float."""
    model.train()
    losses = []
    for inputs, targets in batches:
        optimizer.zero_grad()
        logits = model(inputs)
        loss = criterion(logits, targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def evaluate(model: nn.Module, batches) -> tuple[float, float]:
    """(accuracy in [0, 1], mean cross-entropy) over every example; the model's mode is restored."""
    was_training = model.training
    model.eval()
    correct = 0
    total_loss = 0.0
    count = 0
    for inputs, targets in batches:
        logits = model(inputs)
        total_loss += F.cross_entropy(logits, targets, reduction="sum").item()
        correct += (logits.argmax(dim=-1) == targets).sum().item()
        count += targets.numel()
    model.train(was_training)
    return correct / count, total_loss / count


def predict_proba(model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
    """Class probabilities in eval mode, without a graph."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        probs = F.softmax(model(inputs), dim=-1)
    model.train(was_training)
    return probs
