"""Layer normalization written out by hand, and eval-mode inference.

Contract 12 of docs/contracts.md: ``LayerNorm(d_model, eps=1e-5)`` and ``predict(model, x)``.
"""

from __future__ import annotations

import torch
from torch import nn


class LayerNorm(nn.Module):
    """Normalize over the last axis, then scale by ``weight`` and shift by ``bias``.

    Args:
        d_model: size of the last axis.
        eps: added to the variance inside the square root, so a constant row stays finite.
    """

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., d_model) -> (..., d_model)"""
        mean = x.mean(dim=-1, keepdim=True)  # (..., 1)
        var = x.var(dim=-1, correction=0, keepdim=True)  # (..., 1), biased: divided by d_model
        x_hat = (x - mean) / torch.sqrt(var + self.eps)
        return x_hat * self.weight + self.bias


def predict(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run ``model`` on ``x`` for inference.

    Eval mode switches dropout off and makes batch norm use its running statistics; no
    autograd graph is built. The model is left in the train/eval mode it had before.

    Returns:
        the model's output, without a graph.
    """
    was_training = model.training
    model.eval()
    with torch.no_grad():
        output = model(x)
    model.train(was_training)
    return output
