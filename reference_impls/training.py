"""A supervised training loop that keeps the weights of its best epoch.

Contract 3 of docs/contracts.md:
``train_model(model, dataloader, optimizer, criterion, num_epochs=1) -> (best_state, losses)``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable

import torch
from torch import nn


def train_model(
    model: nn.Module,
    dataloader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    num_epochs: int = 1,
) -> tuple[dict[str, torch.Tensor], list[float]]:
    """Train ``model`` for ``num_epochs`` passes over ``dataloader``.

    Args:
        dataloader: re-iterable batches of ``(inputs, targets)``.
        criterion: a loss that reduces a batch to a scalar (a mean, as ``nn.MSELoss()``).
        num_epochs: at least 1.

    Returns:
        ``best_state``: a copy of ``model.state_dict()`` taken at the end of the epoch with the
        lowest mean batch loss, independent of the live parameters; ``losses``: one Python
        float per batch, in order, over all epochs.
    """
    if num_epochs < 1:
        raise ValueError(f"num_epochs must be at least 1, got {num_epochs}")
    model.train()  # dropout and batch norm may have been left in eval mode by an evaluation
    losses: list[float] = []
    best_loss = float("inf")
    best_state: dict[str, torch.Tensor] | None = None
    for _ in range(num_epochs):
        epoch_losses: list[float] = []
        for inputs, targets in dataloader:
            optimizer.zero_grad()  # also clears gradients left over from before the call
            outputs = model(inputs)
            loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            epoch_losses.append(loss.item())  # a float: keeping the tensor keeps its graph alive
        losses.extend(epoch_losses)
        epoch_loss = sum(epoch_losses) / len(epoch_losses)
        if best_state is None or epoch_loss < best_loss:
            best_loss = epoch_loss
            # state_dict() returns the live tensors: without a deep copy, later epochs overwrite it
            best_state = copy.deepcopy(model.state_dict())
    assert best_state is not None  # at least one epoch ran
    return best_state, losses
