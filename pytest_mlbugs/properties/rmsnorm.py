"""Contract 14: ``rmsnorm.RMSNorm``.

The oracle is ``torch.nn.RMSNorm`` with the implementation's weight copied in. Scale invariance
alone would prove little (dividing a row by its mean is scale invariant too), so the values are
compared; half precision is compared in steps of the dtype, where a reduction done in bfloat16
is two or more steps off and a correct one at most one (contract 14's pinned details).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.properties._precision import assert_within_steps
from pytest_mlbugs.strategies.rmsnorm import RMSNormCase, rmsnorm_cases
from pytest_mlbugs.strategies.tensors import generator, normal
from pytest_mlbugs.suite import Suite

SUITE = Suite("rmsnorm", names=("RMSNorm",), contract="contract 14: RMSNorm(dim, eps=1e-6)")

RICH = RMSNormCase(batch=2, length=3, dim=6, eps_exponent=1, seed=2)
#: wide rows: the error of a bfloat16 reduction grows with the number of terms
WIDE = RMSNormCase(batch=2, length=3, dim=48, eps_exponent=6, seed=3)
ATOL = 1e-5
RTOL = 1e-4


def build(impl: Any, case: RMSNormCase) -> Any:
    """The implementation with the case's random gain, on the session's device."""
    module = devices.put(impl.RMSNorm(case.dim, eps=case.eps))
    parameters = dict(module.named_parameters())
    assert "weight" in parameters, f"weight is not a registered parameter (parameters: {sorted(parameters)})"
    assert parameters["weight"].shape == (case.dim,), f"weight has shape {tuple(parameters['weight'].shape)}"
    with torch.no_grad():
        module.weight.copy_(devices.put(case.make_weight()))
    return module


def closed_form(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """``x * rsqrt(mean(x**2) + eps) * weight`` in float32 at least, rounded once to x's dtype."""
    wide = torch.promote_types(x.dtype, torch.float32)
    upcast = x.to(wide)
    normed = upcast * torch.rsqrt(upcast.pow(2).mean(-1, keepdim=True) + eps)
    return (normed * weight.to(wide)).to(x.dtype)


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="the model's output is zero or stuck at initialisation; the first steps change nothing",
    cases=rmsnorm_cases(max_dim=8),
    explicit=[RICH],
    max_examples=3,
)
def weight_starts_at_ones(impl: Any, case: RMSNormCase) -> None:
    """A new RMSNorm's weight is not all ones (zeros silence the layer, random values distort
    it), or its output is not the plain normalized input."""
    module = devices.put(impl.RMSNorm(case.dim, eps=case.eps))
    torch.testing.assert_close(module.weight.detach(), torch.ones_like(module.weight), atol=0, rtol=0)
    x = case.make_input()
    with torch.no_grad():
        torch.testing.assert_close(module(x), F.rms_norm(x, (case.dim,), eps=case.eps), atol=ATOL, rtol=RTOL)


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="loss falls more slowly than with nn.RMSNorm, or activations blow up on near-zero rows",
    cases=rmsnorm_cases(),
    explicit=[RICH, RMSNormCase(batch=3, length=2, dim=4, eps_exponent=5, seed=9)],
    max_examples=8,
)
def matches_nn_rmsnorm(impl: Any, case: RMSNormCase) -> None:
    """With the same random weight, the output or the gradients differ from torch.nn.RMSNorm:
    the root mean square is not what divides (a mean, a variance, a norm), it is taken over the
    wrong axis, epsilon is missing or outside the square root, or the weight is not applied."""
    module = build(impl, case)
    reference = devices.put(nn.RMSNorm(case.dim, eps=case.eps))
    with torch.no_grad():
        reference.weight.copy_(module.weight)
    x = case.make_input()
    x_actual, x_expected = x.clone().requires_grad_(), x.clone().requires_grad_()
    actual, expected = module(x_actual), reference(x_expected)
    assert actual.shape == x.shape, f"output shape {tuple(actual.shape)}, expected {tuple(x.shape)}"
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=RTOL)
    upstream = devices.put(normal(generator(case.seed + 2), expected.shape))
    (actual * upstream).sum().backward()
    (expected * upstream).sum().backward()
    torch.testing.assert_close(x_actual.grad, x_expected.grad, atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(module.weight.grad, reference.weight.grad, atol=1e-4, rtol=1e-3)


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="bfloat16 training is noisier than float32 for no reason; outputs change dtype between layers",
    cases=rmsnorm_cases(min_dim=32, max_dim=64, min_eps_exponent=5),
    explicit=[WIDE],
    max_examples=3,
)
def half_precision_is_reduced_in_float32(impl: Any, case: RMSNormCase) -> None:
    """In bfloat16 or float16 (the module converted to that dtype) the output is more than one
    step of the dtype away from the float32 computation rounded once, or has another dtype:
    the mean square was reduced in half precision, or the result is not cast back. In float64
    the output lost precision: the computation went through float32."""
    module = build(impl, case)
    for dtype in (torch.bfloat16, torch.float16):
        x = case.make_input(dtype=dtype)
        converted = module.to(dtype)
        with torch.no_grad():
            actual = converted(x)
        expected = closed_form(x, converted.weight.detach(), case.eps)
        assert_within_steps(actual, expected, steps=1, what=f"RMSNorm in {dtype}")
    x = case.make_input(dtype=torch.float64)
    converted = module.to(torch.float64)
    with torch.no_grad():
        actual = converted(x)
    assert actual.dtype == torch.float64, f"a float64 input gave a {actual.dtype} output"
    expected = closed_form(x, converted.weight.detach(), case.eps)
    torch.testing.assert_close(actual, expected, atol=1e-12, rtol=1e-10)


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="RuntimeError: Expected all tensors to be on the same device, once moved to the GPU",
    cases=rmsnorm_cases(max_dim=6),
    explicit=[RICH],
    max_examples=2,
)
def follows_the_device(impl: Any, case: RMSNormCase) -> None:
    """Built under another default device (meta), the weight or the output landed elsewhere:
    a tensor is created on a hard-coded device."""
    with torch.device("meta"):
        module = impl.RMSNorm(case.dim, eps=case.eps)
    for name, parameter in module.named_parameters():
        assert parameter.device.type == "meta", f"parameter {name} on {parameter.device}"
    output = module(case.make_input().to("meta"))
    assert output.device.type == "meta", f"output on {output.device}"
    assert output.shape == (case.batch, case.length, case.dim), f"output shape {tuple(output.shape)}"


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="a checkpoint trained with Llama's norms drifts when loaded; near-zero rows scale differently",
    cases=rmsnorm_cases(max_dim=8),
    explicit=[RICH],
    max_examples=2,
)
def default_eps_is_one_millionth(impl: Any, case: RMSNormCase) -> None:
    """``RMSNorm(dim)``, built without ``eps``, does not normalize as with ``eps=1e-6`` rows whose
    mean square is 1e-6 (where another epsilon, 1e-5 or float32's own, is off by a fifth or more):
    the default epsilon is not contract 14's."""
    module = devices.put(impl.RMSNorm(case.dim))
    x = case.make_input()
    x = x / x.pow(2).mean(-1, keepdim=True).sqrt() * 1e-3  # every row at root mean square 1e-3
    with torch.no_grad():
        actual = module(x)
    torch.testing.assert_close(actual, F.rms_norm(x, (case.dim,), eps=1e-6), atol=ATOL, rtol=RTOL)
