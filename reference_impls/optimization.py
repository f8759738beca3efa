"""AdamW with decoupled weight decay where it belongs, and gradient accumulation.

Contract 13 of docs/contracts.md: ``build_optimizer(model, lr, weight_decay)`` and
``train_with_accumulation(model, batches, optimizer, criterion, accum_steps)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

# _NormBase covers every BatchNorm* and InstanceNorm*; RMSNorm exists from torch 2.4 on.
_NORM_TYPES: tuple[type[nn.Module], ...] = (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase)
if hasattr(nn, "RMSNorm"):
    _NORM_TYPES += (nn.RMSNorm,)


def _is_normalization(module: nn.Module) -> bool:
    """torch's norm layers, and hand-written ones such as contract 12's ``LayerNorm``."""
    return isinstance(module, _NORM_TYPES) or type(module).__name__.endswith("Norm")


def build_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with two parameter groups.

    Biases and every parameter of a normalization module (whatever its attribute name) get
    no weight decay: shrinking a norm's gain or a bias towards zero only fights the
    normalization. Frozen parameters (``requires_grad=False``) are left out.

    Returns:
        ``AdamW`` whose first group decays with ``weight_decay`` and whose second does not.
    """
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    seen: set[int] = set()  # a tied parameter belongs to one group, once
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            if id(param) in seen:
                continue
            seen.add(id(param))
            if name == "bias" or _is_normalization(module):
                no_decay.append(param)
            else:
                decay.append(param)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr)


def train_with_accumulation(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    optimizer: torch.optim.Optimizer,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    accum_steps: int,
) -> list[float]:
    """One optimizer step per ``accum_steps`` micro-batches, equal to the step on their concatenation.

    ``criterion`` averages over its batch, so each micro-batch's loss is weighted by its
    share of the group's examples: unequal sizes and a trailing partial group (which gets
    its own step) are handled exactly. Gradients present before the call are discarded.

    Returns:
        one Python float per micro-batch: its loss before the step of its group.
    """
    if accum_steps < 1:
        raise ValueError(f"accum_steps must be at least 1, got {accum_steps}")
    batches = list(batches)
    losses: list[float] = []
    for start in range(0, len(batches), accum_steps):
        group = batches[start : start + accum_steps]
        group_size = sum(len(targets) for _, targets in group)
        optimizer.zero_grad()
        for inputs, targets in group:
            loss = criterion(model(inputs), targets)
            (loss * (len(targets) / group_size)).backward()
            losses.append(loss.item())
        optimizer.step()
    return losses
