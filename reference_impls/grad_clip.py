"""Gradient clipping by the total norm, and a training loop that uses it.

Contract 5 of docs/contracts.md: ``clip_gradients(parameters, max_norm, norm_type=2.0) -> float`` with
the semantics of ``torch.nn.utils.clip_grad_norm_``, and
``train_with_gradient_clipping(model, dataloader, optimizer, criterion, max_grad_norm=1.0) -> float``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn


def clip_gradients(
    parameters: torch.Tensor | Iterable[torch.Tensor], max_norm: float, norm_type: float = 2.0
) -> float:
    """Scale all gradients together so that their total ``norm_type``-norm is at most ``max_norm``.

    The total norm is the norm of the vector of every gradient entry, i.e. the norm of the
    per-tensor norms; one coefficient scales every gradient, so their directions relative to
    each other are kept.

    Returns:
        the total norm before clipping, as a Python float (0.0 when no parameter has a gradient).
    """
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad.detach() for p in parameters if p.grad is not None]
    if not grads:
        return 0.0
    norm_type = float(norm_type)
    norms = [torch.linalg.vector_norm(g, norm_type) for g in grads]
    total_norm = torch.linalg.vector_norm(torch.stack(norms), norm_type)
    clip_coef = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)  # never scale up
    for g in grads:
        g.mul_(clip_coef)
    return total_norm.item()


def train_with_gradient_clipping(
    model: nn.Module,
    dataloader: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    max_grad_norm: float = 1.0,
) -> float:
    """One pass over ``dataloader`` with the gradients clipped between backward and step.

    Returns:
        the mean of the batch losses, as a Python float.
    """
    total_loss = 0.0
    num_batches = 0
    for inputs, targets in dataloader:
        optimizer.zero_grad()
        loss = criterion(model(inputs), targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        total_loss += loss.item()
        num_batches += 1
    return total_loss / num_batches
