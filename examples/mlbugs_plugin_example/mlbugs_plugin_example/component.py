"""The ``label_smoothing`` component: its property suite and its reference, as one Component.

The strongest oracle is PyTorch's own function: cross-entropy against the smoothed targets must
equal ``F.cross_entropy(..., label_smoothing=s)``. An exact invariant (each row is a
distribution) comes first, because it names the symptom a person would look for.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from hypothesis import strategies as st

from pytest_mlbugs.api import Component, Layer, Suite

SUITE = Suite(
    "label_smoothing",
    names=("smooth_targets",),
    contract="smooth_targets(targets, num_classes, smoothing=0.1) -> (N, C) float32, rows sum to 1",
)


@dataclasses.dataclass(frozen=True)
class SmoothingCase:
    targets: torch.Tensor  # (N,) int64
    num_classes: int
    smoothing: float
    logits: torch.Tensor  # (N, C) float32

    def __repr__(self) -> str:
        return f"SmoothingCase(N={len(self.targets)}, C={self.num_classes}, smoothing={self.smoothing})"


@st.composite
def smoothing_cases(draw: Any, *, max_rows: int = 6, max_classes: int = 8) -> SmoothingCase:
    """Targets, class count, a smoothing in [0.05, 0.5] and logits; everything seeded by Hypothesis."""
    rows = draw(st.integers(min_value=1, max_value=max_rows))
    classes = draw(st.integers(min_value=2, max_value=max_classes))
    smoothing = draw(st.floats(min_value=0.05, max_value=0.5))
    generator = torch.Generator().manual_seed(draw(st.integers(min_value=0, max_value=2**31 - 1)))
    targets = torch.randint(0, classes, (rows,), generator=generator)
    logits = torch.randn(rows, classes, generator=generator, dtype=torch.float32)
    return SmoothingCase(targets, classes, smoothing, logits)


#: three classes, a quarter of the mass smoothed: the bug shows at once
EXPLICIT = SmoothingCase(torch.tensor([0, 2]), 3, 0.25, torch.zeros(2, 3))


@SUITE.property(
    layer=Layer.TARGET,
    symptom="targets do not sum to 1; the model is under-confident",
    cases=smoothing_cases(),
    explicit=[EXPLICIT],
)
def rows_are_distributions(impl: Any, case: SmoothingCase) -> None:
    """Every row of the smoothed targets is a probability distribution: non-negative, summing to 1."""
    smoothed = impl.smooth_targets(case.targets, case.num_classes, case.smoothing)
    assert smoothed.shape == (len(case.targets), case.num_classes), f"shape {tuple(smoothed.shape)}"
    assert bool((smoothed >= 0).all()), "negative target probabilities"
    torch.testing.assert_close(smoothed.sum(-1), torch.ones(len(case.targets)), rtol=0, atol=1e-5)


@SUITE.property(
    layer=Layer.LOSS,
    symptom="the loss differs from cross_entropy(label_smoothing=s); training optimizes another objective",
    cases=smoothing_cases(),
)
def matches_torch_label_smoothing(impl: Any, case: SmoothingCase) -> None:
    """Cross-entropy against the smoothed targets equals PyTorch's cross_entropy with label_smoothing."""
    smoothed = impl.smooth_targets(case.targets, case.num_classes, case.smoothing)
    ours = -(smoothed * torch.log_softmax(case.logits, dim=-1)).sum(-1).mean()
    expected = torch.nn.functional.cross_entropy(case.logits, case.targets, label_smoothing=case.smoothing)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-5)


def component() -> Component:
    """The entry point of group ``pytest_mlbugs.components``: the suite with its reference."""
    return Component.from_resource(SUITE, "mlbugs_plugin_example", "label_smoothing.py")
