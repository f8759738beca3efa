"""Numerically stable softmax, log-softmax, logsumexp and the two classification losses.

Contract 9 of docs/contracts.md. Written out by hand on purpose: the stable forms (the max shift,
log-softmax through logsumexp, the ``log1p(exp(-|x|))`` form of binary cross entropy) are the
lines that the numerics mutators rewrite. Every function stays finite for logits up to
``+-1e4`` in float32; the losses return tensors, as ``torch.nn.functional`` does.
"""

from __future__ import annotations

import torch


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Probabilities along ``dim``.

    Args:
        x: logits of any shape.
        dim: the axis that sums to one.

    Returns:
        a tensor shaped like ``x``.
    """
    # exp of a shifted input never exceeds 1, so it cannot overflow; the shift cancels out
    exps = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return exps / exps.sum(dim=dim, keepdim=True)


def logsumexp(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``log(sum(exp(x)))`` along ``dim``, computed around the maximum.

    Returns:
        ``x`` with ``dim`` removed.
    """
    peak = x.amax(dim=dim, keepdim=True)
    # the largest term is exp(0) = 1, so the sum lies in [1, n] and its log is finite
    summed = torch.exp(x - peak).sum(dim=dim, keepdim=True)
    return (peak + torch.log(summed)).squeeze(dim)


def log_softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Log-probabilities along ``dim``: ``x - logsumexp(x)``, never ``log(softmax(x))``.

    Returns:
        a tensor shaped like ``x``.
    """
    return x - logsumexp(x, dim=dim).unsqueeze(dim)


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean negative log-likelihood of the target classes, over the targets not ignored.

    Args:
        logits: (N, C) unnormalized scores.
        targets: (N,) class indices; entries equal to ``ignore_index`` do not count.
        ignore_index: the target value that marks a position without a label (padding).

    Returns:
        a 0-d tensor.
    """
    valid = targets != ignore_index  # (N,)
    # gather cannot index with ignore_index; those rows are zeroed below anyway
    safe_targets = torch.where(valid, targets, torch.zeros_like(targets))  # (N,)
    log_probs = log_softmax(logits, dim=-1)  # (N, C)
    nll = -log_probs.gather(-1, safe_targets.unsqueeze(-1)).squeeze(-1)  # (N,)
    return torch.where(valid, nll, torch.zeros_like(nll)).sum() / valid.sum()


def binary_cross_entropy_with_logits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean binary cross entropy of ``sigmoid(logits)`` against ``targets`` in [0, 1].

    ``-y log(sigmoid(x)) - (1 - y) log(1 - sigmoid(x))`` rewritten as
    ``max(x, 0) - x y + log(1 + exp(-|x|))``: no log of zero, no exp of a large number.

    Returns:
        a 0-d tensor.
    """
    losses = logits.clamp(min=0) - logits * targets + torch.log1p(torch.exp(-logits.abs()))
    return losses.mean()
