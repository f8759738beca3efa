"""Comparisons in units of the last place, for the suites' half-precision checks (private).

A tolerance in steps of the output dtype says what "rounded once" means whatever the size of a
value: a correct half-precision result is the float32 computation rounded to the dtype, give or
take one step where the contract lets an implementation round an intermediate too (contract 14's
pinned details), while a reduction done in half precision is two or more steps off.
"""

from __future__ import annotations

import torch


def steps_apart(actual: torch.Tensor, expected: torch.Tensor) -> torch.Tensor:
    """How many steps of ``expected``'s dtype separate the two, elementwise, in float32.

    The step of a value ``v`` is ``eps * 2**floor(log2 |v|)`` (the spacing of the dtype around
    ``v``), and never less than the smallest subnormal.
    """
    info = torch.finfo(expected.dtype)
    wanted = expected.float()
    magnitude = wanted.abs().clamp_min(info.tiny)
    step = (info.eps * torch.exp2(torch.floor(torch.log2(magnitude)))).clamp_min(info.tiny * info.eps)
    return (actual.float() - wanted).abs() / step


def assert_within_steps(actual: torch.Tensor, expected: torch.Tensor, *, steps: float, what: str) -> None:
    """Every element of ``actual`` lies within ``steps`` steps of ``expected`` (same dtype)."""
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, expected {expected.dtype}"
    distance = steps_apart(actual, expected)
    worst = distance.max().item() if distance.numel() else 0.0
    assert worst <= steps, (
        f"{what}: {worst:g} steps of {expected.dtype} away from the float32 computation rounded "
        f"once (at most {steps:g} allowed)"
    )
