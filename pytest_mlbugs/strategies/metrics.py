"""Scores, labels and masks for the metrics suite."""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import strategies as st

from pytest_mlbugs import devices
from pytest_mlbugs.strategies.tensors import bernoulli_mask, generator, normal, seeds

#: probability thresholds whose logit lies between two multiples of 1/4 (see BinaryCase)
THRESHOLDS = (0.5, 0.3, 0.7, 0.9)


@dataclasses.dataclass(frozen=True)
class ClassificationCase:
    """``batch`` rows over ``classes`` classes. Predictions keep only the classes from 1 on
    and labels only those below ``classes - 1``, so with ``skewed`` one class is labelled but
    never predicted and another predicted but never labelled, and ``spare`` more classes
    appear in neither: the classes a macro average must leave out."""

    batch: int
    classes: int
    spare: int
    skewed: bool
    seed: int

    @property
    def num_classes(self) -> int:
        return self.classes + self.spare

    def logits(self) -> torch.Tensor:
        """(batch, num_classes) scores without ties whose argmax is :meth:`preds`."""
        gen = generator(self.seed)
        scores = torch.rand((self.batch, self.num_classes), generator=gen).argsort(dim=-1).float()
        return devices.put(scores.scatter(-1, self._preds().unsqueeze(-1), float(self.num_classes)))

    def labels(self) -> torch.Tensor:
        return devices.put(self._labels())

    def preds(self) -> torch.Tensor:
        """About half of the predictions copy the label (so that true positives exist)."""
        return devices.put(self._preds())

    def _labels(self) -> torch.Tensor:
        gen = generator(self.seed + 1)
        high = self.classes - 1 if self.skewed else self.classes
        return torch.randint(0, high, (self.batch,), generator=gen)

    def _preds(self) -> torch.Tensor:
        gen = generator(self.seed + 2)
        low = 1 if self.skewed else 0
        guesses = torch.randint(low, self.classes, (self.batch,), generator=gen)
        labels = self._labels()
        copy = (torch.rand((self.batch,), generator=gen) < 0.5) & (labels >= low)
        return torch.where(copy, labels, guesses)


def classification_cases(
    *, min_batch: int = 1, max_batch: int = 10, max_classes: int = 5, max_spare: int = 2
) -> st.SearchStrategy[ClassificationCase]:
    if min_batch < 1 or min_batch > max_batch:
        raise ValueError(f"need 1 <= min_batch <= max_batch, got {min_batch}, {max_batch}")
    if max_classes < 2:
        raise ValueError(f"max_classes must be at least 2, got {max_classes}")
    return st.builds(
        ClassificationCase,
        batch=st.integers(min_batch, max_batch),
        classes=st.integers(2, max_classes),
        spare=st.integers(0, max_spare),
        skewed=st.booleans(),
        seed=seeds(),
    )


@dataclasses.dataclass(frozen=True)
class BinaryCase:
    """Binary logits on the grid of quarters in [-3, 3] (0 included, where the probability is
    exactly 0.5), so no logit lies within rounding distance of a threshold's logit."""

    shape: tuple[int, ...]
    threshold_index: int
    seed: int

    @property
    def threshold(self) -> float:
        return THRESHOLDS[self.threshold_index]

    def logits(self) -> torch.Tensor:
        gen = generator(self.seed)
        quarters = torch.randint(-12, 13, self.shape, generator=gen).float() / 4
        return devices.put(quarters.flatten().index_fill(0, torch.tensor([0]), 0.0).view(self.shape))

    def labels(self) -> torch.Tensor:
        """Float 0/1 labels, as a data loader gives them for a BCE loss."""
        return devices.put(bernoulli_mask(generator(self.seed + 1), self.shape).float())


def binary_cases(*, max_batch: int = 8, max_width: int = 3) -> st.SearchStrategy[BinaryCase]:
    if max_batch < 1 or max_width < 1:
        raise ValueError(f"max_batch and max_width must be positive, got {max_batch}, {max_width}")
    shapes = st.one_of(
        st.tuples(st.integers(1, max_batch)),
        st.tuples(st.integers(1, max_batch), st.integers(1, max_width)),
    )
    return st.builds(
        BinaryCase, shape=shapes, threshold_index=st.integers(0, len(THRESHOLDS) - 1), seed=seeds()
    )


@dataclasses.dataclass(frozen=True)
class MaskCase:
    """Values (batch, length) or (batch, length, features) and a boolean padding mask.

    ``prefix`` masks cover (batch, length) only; otherwise the mask has the values' shape.
    Padded positions hold large values, so that averaging over them cannot go unnoticed."""

    batch: int
    length: int
    features: int
    prefix: bool
    seed: int

    @property
    def values_shape(self) -> tuple[int, ...]:
        return (self.batch, self.length) if self.features == 0 else (self.batch, self.length, self.features)

    @property
    def mask_shape(self) -> tuple[int, ...]:
        return (self.batch, self.length) if self.prefix else self.values_shape

    def mask(self) -> torch.Tensor:
        """Random padding positions; the very first position is always kept."""
        return devices.put(self._mask())

    def values(self, *, padding: float = 1e3) -> torch.Tensor:
        gen = generator(self.seed)
        values = normal(gen, self.values_shape) + 2.0  # a mean far from zero
        mask = self._mask()
        covered = mask.reshape(mask.shape + (1,) * (values.ndim - mask.ndim)).expand_as(values)
        return devices.put(torch.where(covered, values, torch.full_like(values, padding)))

    def _mask(self) -> torch.Tensor:
        gen = generator(self.seed + 1)
        mask = bernoulli_mask(gen, self.mask_shape, p=0.6)
        mask.view(-1)[0] = True
        return mask


def mask_cases(
    *, max_batch: int = 3, max_length: int = 6, max_features: int = 3
) -> st.SearchStrategy[MaskCase]:
    if max_batch < 1 or max_length < 1 or max_features < 0:
        raise ValueError("max_batch and max_length must be positive and max_features non-negative")

    @st.composite
    def build(draw: st.DrawFn) -> MaskCase:
        features = draw(st.integers(0, max_features))
        return MaskCase(
            batch=draw(st.integers(1, max_batch)),
            length=draw(st.integers(1, max_length)),
            features=features,
            prefix=features > 0 and draw(st.booleans()),
            seed=draw(seeds()),
        )

    return build()
