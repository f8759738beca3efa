"""Training checkpoints that resume bit for bit and survive a crash while they are written.

Contract 23 of docs/contracts.md: ``save_checkpoint(path, model, optimizer, scheduler=None,
step=0)`` and ``load_checkpoint(path, model, optimizer, scheduler=None, map_location="cpu")
-> int``. Resuming exactly needs everything that decides the next step: the weights and the
persistent buffers (``state_dict``, not the parameters alone), the optimizer's moments, the
scheduler's position, the step count and the random state that draws the dropout masks.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler


def save_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: LRScheduler | None = None,
    step: int = 0,
) -> None:
    """Write everything needed to resume training at ``step`` to ``path``, atomically.

    The checkpoint is written to a temporary file in the same folder and then renamed over
    ``path`` (``os.replace`` is atomic within one file system): a crash at any point leaves
    either the previous checkpoint or the new one, never a torn file.
    """
    checkpoint: dict[str, Any] = {
        "model": model.state_dict(),  # parameters and persistent buffers
        "optimizer": optimizer.state_dict(),
        "scheduler": None if scheduler is None else scheduler.state_dict(),
        "step": step,
        "rng_state": torch.get_rng_state(),
    }
    folder = os.path.dirname(os.path.abspath(path))
    handle, tmp_path = tempfile.mkstemp(dir=folder, prefix=".checkpoint-", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(checkpoint, tmp_path)
        os.replace(tmp_path, path)
    finally:
        if os.path.exists(tmp_path):  # the write failed: do not leave the partial file behind
            os.remove(tmp_path)


def load_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: LRScheduler | None = None,
    map_location: Any = "cpu",
) -> int:
    """Restore what :func:`save_checkpoint` wrote into ``model``, ``optimizer`` and ``scheduler``.

    Args:
        map_location: where the tensors are loaded, as for ``torch.load`` (a checkpoint written
            on a GPU loads on a machine without one).

    Returns:
        the step the checkpoint was saved at.
    """
    # weights_only: a checkpoint is data; unpickling arbitrary objects would run their code
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
    torch.set_rng_state(checkpoint["rng_state"].cpu())  # the dropout masks of an unbroken run
    return checkpoint["step"]
