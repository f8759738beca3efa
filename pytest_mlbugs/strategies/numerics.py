"""Logits and targets for the numerics suite (softmax, logsumexp, the two losses)."""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import strategies as st

from pytest_mlbugs import devices
from pytest_mlbugs.strategies.tensors import generator, seeds


@dataclasses.dataclass(frozen=True)
class LogitsCase:
    """A batch of logits whose rows span magnitudes: row ``i`` lies in ``+-10 ** (i mod
    (magnitude + 1))``, so one case holds ordinary logits (where precision bugs show) and logits
    up to ``+-1e4`` (where overflow bugs show)."""

    batch: int
    classes: int
    #: the largest row scale is ``10 ** magnitude``; 4 reaches the contract's +-1e4
    magnitude: int
    #: how many targets are replaced by ``ignore_index`` (always fewer than ``batch``)
    ignored: int
    ignore_index: int
    seed: int

    def row_scales(self, *, limit: float = 1e4) -> torch.Tensor:
        exponents = torch.arange(self.batch) % (self.magnitude + 1)
        return (10.0**exponents).clamp(max=limit).unsqueeze(-1)  # (N, 1)

    def logits(self, *, limit: float = 1e4) -> torch.Tensor:
        """(batch, classes) float32 logits, no entry beyond ``limit`` in absolute value."""
        gen = generator(self.seed)
        unit = torch.rand((self.batch, self.classes), generator=gen) * 2 - 1
        return devices.put(unit * self.row_scales(limit=limit))

    def targets(self) -> torch.Tensor:
        """(batch,) int64 class indices; ``ignored`` of them set to ``ignore_index``. The
        others avoid ``ignore_index`` when it is a class index, so they all count."""
        gen = generator(self.seed + 1)
        allowed = [c for c in range(self.classes) if c != self.ignore_index]
        picks = torch.randint(0, len(allowed), (self.batch,), generator=gen)
        targets = torch.tensor(allowed)[picks]
        ignored_rows = torch.randperm(self.batch, generator=gen)[: self.ignored]
        targets[ignored_rows] = self.ignore_index
        return devices.put(targets)

    def binary_targets(self) -> torch.Tensor:
        """(batch, classes) float32 targets in [0, 1]: hard 0/1 and soft (smoothed) labels."""
        gen = generator(self.seed + 2)
        hard = (torch.rand((self.batch, self.classes), generator=gen) < 0.5).float()
        soft = torch.rand((self.batch, self.classes), generator=gen)
        return devices.put(
            torch.where(torch.rand((self.batch, self.classes), generator=gen) < 0.5, hard, soft)
        )


def logits_cases(
    *,
    min_batch: int = 1,
    max_batch: int = 8,
    min_classes: int = 2,
    max_classes: int = 6,
    max_magnitude: int = 4,
    ignore_indices: tuple[int, ...] = (-100, -1, 0),
) -> st.SearchStrategy[LogitsCase]:
    """Logits cases with at least two classes and at least one target that counts."""
    if min_batch < 1 or min_batch > max_batch:
        raise ValueError(f"need 1 <= min_batch <= max_batch, got {min_batch}, {max_batch}")
    if min_classes < 2 or min_classes > max_classes:
        raise ValueError(f"need 2 <= min_classes <= max_classes, got {min_classes}, {max_classes}")
    if not 0 <= max_magnitude <= 4:
        raise ValueError(f"max_magnitude must lie in [0, 4] (logits up to 1e4), got {max_magnitude}")

    @st.composite
    def build(draw: st.DrawFn) -> LogitsCase:
        batch = draw(st.integers(min_batch, max_batch))
        return LogitsCase(
            batch=batch,
            classes=draw(st.integers(min_classes, max_classes)),
            magnitude=draw(st.integers(0, max_magnitude)),
            ignored=draw(st.integers(0, batch - 1)),
            ignore_index=draw(st.sampled_from(ignore_indices)),
            seed=draw(seeds()),
        )

    return build()
