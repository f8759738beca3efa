"""Training a :class:`tinygpt.model.GPT` on one long stream of token ids.

The pieces of a training script, as functions a test can call: random windows of the stream as
batches, the learning-rate schedule (linear warm-up, cosine decay, a floor), one optimizer step
over several micro-batches with gradient clipping and an optional loss scaler, and the periodic
loss estimate on each split.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import nn


def get_batch(
    data: torch.Tensor, batch_size: int, block_size: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of ``block_size`` tokens from ``data``, and the same windows
    one token later: the next-token targets. Both (batch_size, block_size), int64."""
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    x = torch.stack([data[i : i + block_size] for i in starts.tolist()])
    y = torch.stack([data[i + 1 : i + 1 + block_size] for i in starts.tolist()])
    return x.long(), y.long()


def get_lr(it: int, learning_rate: float, warmup_iters: int, lr_decay_iters: int, min_lr: float) -> float:
    """The learning rate of iteration ``it``: linear warm-up to ``learning_rate`` over
    ``warmup_iters`` steps, cosine decay down to ``min_lr`` at ``lr_decay_iters``, then ``min_lr``."""
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    if it > lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))  # from 1 down to 0
    return min_lr + coeff * (learning_rate - min_lr)


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    micro_batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    lr: float,
    grad_clip: float = 1.0,
    scaler: torch.amp.GradScaler | None = None,
) -> float:
    """One optimizer step whose gradient is the mean over ``micro_batches`` (gradient
    accumulation: a big batch that does not fit at once).

    Returns:
        The mean loss of the micro-batches, as a float.
    """
    scaler = scaler if scaler is not None else torch.amp.GradScaler("cpu", enabled=False)
    for group in optimizer.param_groups:
        group["lr"] = lr
    steps = len(micro_batches)
    total = 0.0
    for x, y in micro_batches:
        _, loss = model(x, y)
        loss = loss / steps  # each micro-batch's share of the big batch's mean
        total += loss.item()
        scaler.scale(loss).backward()
    if grad_clip > 0.0:
        # the scaled gradients must be unscaled before their norm means anything
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)
    scaler.update()
    # free the gradients' memory now rather than at the next backward
    optimizer.zero_grad(set_to_none=True)
    return total


@torch.no_grad()
def estimate_loss(
    model: nn.Module,
    splits: Mapping[str, torch.Tensor],
    eval_iters: int,
    batch_size: int,
    block_size: int,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """The mean loss over ``eval_iters`` random batches of each split, in eval mode (no dropout);
    the model is back in training mode afterwards."""
    out = {}
    model.eval()
    for split, data in splits.items():
        losses = torch.zeros(eval_iters)
        for k in range(eval_iters):
            x, y = get_batch(data, batch_size, block_size, generator)
            _, loss = model(x, y)
            losses[k] = loss.item()
        out[split] = losses.mean().item()
    model.train()
    return out
