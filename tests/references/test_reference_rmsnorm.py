"""The RMSNorm reference against a closed formula, and the suite against other correct styles
and hand-written bugs that no mutator writes."""

from __future__ import annotations

import math
import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.rmsnorm import SUITE
from pytest_mlbugs.reference_impls import rmsnorm as reference


def closed_form(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Row by row in float64: ``x_i / sqrt(sum(x_j^2) / n + eps) * w_i``."""
    rows = x.double().reshape(-1, x.shape[-1])
    out = torch.empty_like(rows)
    for r, row in enumerate(rows):
        root_mean_square = math.sqrt(sum(v * v for v in row.tolist()) / row.numel() + eps)
        out[r] = row / root_mean_square * weight.double()
    return out.reshape(x.shape)


@pytest.mark.parametrize("eps", [1e-6, 0.1])
def test_reference_matches_the_closed_form(eps):
    torch.manual_seed(0)
    module = reference.RMSNorm(5, eps=eps)
    with torch.no_grad():
        module.weight.normal_()
    x = torch.randn(2, 3, 5) * 3 + 1
    x[0, 0] = 1e-4  # a nearly zero row: eps decides its scale
    with torch.no_grad():
        actual = module(x)
    torch.testing.assert_close(actual.double(), closed_form(x, module.weight, eps), atol=1e-5, rtol=1e-5)


def test_reference_keeps_low_precision_dtypes_and_float64_precision():
    module = reference.RMSNorm(64)
    x = torch.randn(3, 64) * 100
    for dtype in (torch.bfloat16, torch.float16, torch.float64):
        with torch.no_grad():
            out = module.to(dtype)(x.to(dtype))
        assert out.dtype == dtype
    torch.testing.assert_close(out, closed_form(x.double(), module.weight, 1e-6), atol=1e-12, rtol=1e-12)


class FunctionalRMSNorm(nn.Module):
    """A correct implementation in another style: PyTorch's fused F.rms_norm."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return F.rms_norm(x, self.weight.shape, self.weight, self.eps)


class LoopRMSNorm(nn.Module):
    """A correct implementation in another style: the mean square summed feature by feature,
    the gain applied before the cast back (HF's ``weight * x.to(dtype)`` the other way round)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.variance_epsilon = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, hidden_states):
        wide = hidden_states.to(torch.promote_types(hidden_states.dtype, torch.float32))
        total = torch.zeros_like(wide[..., 0])
        for i in range(wide.shape[-1]):
            total = total + wide[..., i] * wide[..., i]
        scale = 1.0 / torch.sqrt(total / wide.shape[-1] + self.variance_epsilon)
        return (wide * scale.unsqueeze(-1) * self.weight.to(wide.dtype)).to(hidden_states.dtype)


class LlamaEpsRMSNorm(nn.RMSNorm):
    """A correct implementation in another style: PyTorch's own module, given contract 14's
    default epsilon (its own default is float32's machine epsilon)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__(dim, eps=eps)


ALTERNATIVES = {
    "reference": reference,
    "functional": types.SimpleNamespace(RMSNorm=FunctionalRMSNorm),
    "loop": types.SimpleNamespace(RMSNorm=LoopRMSNorm),
    "nn": types.SimpleNamespace(RMSNorm=LlamaEpsRMSNorm),
}


@pytest.mark.parametrize("impl_name", sorted(ALTERNATIVES))
@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_every_correct_style_passes_every_property(impl_name, prop):
    assert check_property(prop, ALTERNATIVES[impl_name], seed=0) is None


class CenteredRMSNorm(FunctionalRMSNorm):
    """Subtracts the row mean first: a LayerNorm without bias, not an RMSNorm."""

    def forward(self, x):
        centred = x - x.mean(-1, keepdim=True)
        return F.rms_norm(centred, self.weight.shape, self.weight, self.eps)


class UnitNormRMSNorm(FunctionalRMSNorm):
    """Divides by the Euclidean norm instead of the root mean square: scale invariant like the
    contract, off by a factor sqrt(dim)."""

    def forward(self, x):
        return x / (x.norm(dim=-1, keepdim=True) + self.eps) * self.weight


class HalfPrecisionRMSNorm(FunctionalRMSNorm):
    """The textbook formula with no upcast: reduced in the input's dtype."""

    def forward(self, x):
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


@pytest.mark.parametrize(
    "broken", [CenteredRMSNorm, UnitNormRMSNorm, HalfPrecisionRMSNorm], ids=lambda c: c.__name__
)
def test_hand_written_bugs_fail_the_suite(broken):
    impl = types.SimpleNamespace(RMSNorm=broken)
    failures = [check_property(prop, impl, seed=0) for prop in SUITE.properties]
    assert any(f is not None for f in failures), f"{broken.__name__} passed every property"


def test_a_half_precision_reduction_fails_only_the_half_precision_property():
    impl = types.SimpleNamespace(RMSNorm=HalfPrecisionRMSNorm)
    failed = {prop.name for prop in SUITE.properties if check_property(prop, impl, seed=0) is not None}
    assert failed == {"half_precision_is_reduced_in_float32"}


def test_nn_rmsnorm_s_own_default_eps_fails_only_the_default_eps_property():
    """``nn.RMSNorm(dim)`` divides by ``sqrt(mean square + 1.19e-7)``, not ``+ 1e-6``."""
    impl = types.SimpleNamespace(RMSNorm=nn.RMSNorm)
    failed = {prop.name for prop in SUITE.properties if check_property(prop, impl, seed=0) is not None}
    assert failed == {"default_eps_is_one_millionth"}
