"""One mixed-precision training step with a gradient scaler.

Contract 22 of docs/contracts.md: ``train_step(model, batch, optimizer, scaler, criterion,
max_grad_norm=None, amp_dtype=torch.bfloat16) -> float``. The forward pass and the loss run under
``torch.autocast`` in ``amp_dtype``; the backward pass runs on the loss times the scaler's scale,
so that small float16 gradients do not underflow; everything that reads the gradients' size
(clipping) must first divide that scale back out.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def train_step(
    model: nn.Module,
    batch: tuple[torch.Tensor, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    max_grad_norm: float | None = None,
    amp_dtype: torch.dtype = torch.bfloat16,
) -> float:
    """Forward under autocast, scaled backward, optional clipping, scaler step and update.

    Args:
        batch: ``(inputs, targets)`` on the model's device.
        scaler: a ``torch.amp.GradScaler`` for the model's device type.
        max_grad_norm: clip the total gradient norm, in true (unscaled) units, to this value.
        amp_dtype: the autocast dtype (bfloat16, or float16 on CUDA).

    Returns:
        the batch's loss as a Python float, unscaled. A step whose gradients are inf or NaN
        leaves every parameter unchanged and lowers the scale; no gradient is left behind.
    """
    inputs, targets = batch
    device_type = next(model.parameters()).device.type  # "cpu" or "cuda"
    with torch.autocast(device_type=device_type, dtype=amp_dtype):
        outputs = model(inputs)
        loss = criterion(outputs, targets)
    scaler.scale(loss).backward()  # gradients are now `scale` times too large
    if max_grad_norm is not None:
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    scaler.step(optimizer)  # unscales if not yet done; skips the step on inf/NaN gradients
    scaler.update()  # lowers the scale after a skipped step, grows it after a run of good ones
    optimizer.zero_grad(set_to_none=True)
    return loss.item()
