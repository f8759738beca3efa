"""Contract 9: ``numerics`` (softmax, log_softmax, logsumexp, cross_entropy,
binary_cross_entropy_with_logits)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.strategies.numerics import LogitsCase, logits_cases
from pytest_mlbugs.strategies.tensors import generator
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "numerics",
    names=("softmax", "log_softmax", "logsumexp", "cross_entropy", "binary_cross_entropy_with_logits"),
    contract="contract 9: numerics",
)

#: rows from +-1 to +-1e4, two ignored targets: catches most numerics bugs at once
RICH = LogitsCase(batch=6, classes=5, magnitude=4, ignored=2, ignore_index=-100, seed=1)
#: a class index as ignore_index, so "ignored" cannot mean "negative"
PAD_ZERO = LogitsCase(batch=5, classes=4, magnitude=1, ignored=2, ignore_index=0, seed=2)
TOLERANCE: dict[str, Any] = {"rtol": 1e-5, "atol": 1e-5}
#: in units of the row's largest logit: a few float32 ulps, far below float16's 5e-4
SCALED_TOLERANCE: dict[str, Any] = {"rtol": 2e-6, "atol": 2e-6}
#: the float32 spacing near 1e4 is about 1e-3; shifting by 1e4 rounds the logits that much
SHIFTED_TOLERANCE: dict[str, Any] = {"rtol": 1e-5, "atol": 5e-3}
#: reduced precision against the float32 oracle on the same (rounded) inputs
HALF_TOLERANCE: dict[torch.dtype, dict[str, Any]] = {
    torch.float16: {"rtol": 5e-3, "atol": 2e-2},
    torch.bfloat16: {"rtol": 2e-2, "atol": 0.25},
}
EXTREME = 1e4
#: generated examples per property in a verdict; the explicit cases catch most bugs
MAX_EXAMPLES = 5


def call_cross_entropy(impl: Any, logits: torch.Tensor, targets: torch.Tensor, case: LogitsCase) -> Any:
    """The default ``ignore_index`` is part of the contract: test it by leaving it out."""
    if case.ignore_index == -100:
        return impl.cross_entropy(logits, targets)
    return impl.cross_entropy(logits, targets, ignore_index=case.ignore_index)


def expected_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, case: LogitsCase) -> torch.Tensor:
    return F.cross_entropy(logits, targets, ignore_index=case.ignore_index)


def counted_rows(case: LogitsCase, targets: torch.Tensor) -> list[int]:
    return [i for i in range(case.batch) if int(targets[i]) != case.ignore_index]


def named(what: str) -> Any:
    return lambda message: f"{what}: {message}"


def assert_close_at_scale(
    actual: Any, expected: torch.Tensor, scale: torch.Tensor | float, what: str
) -> None:
    """Compare in units of the logits' magnitude: a correct float32 computation on logits of
    size s is only exact to a few ulps of s (``x - (m + log s)`` and ``(x - m) - log s`` differ
    by that much), while the bugs this suite hunts are off by far more."""
    torch.testing.assert_close(actual / scale, expected / scale, **SCALED_TOLERANCE, msg=named(what))


def row_scales(x: torch.Tensor) -> torch.Tensor:
    """(N, 1) the largest logit magnitude of each row, at least 1."""
    return x.abs().amax(dim=-1, keepdim=True).clamp(min=1.0)


def assert_tensor(value: Any, what: str) -> torch.Tensor:
    assert isinstance(value, torch.Tensor), f"{what} returned {type(value).__name__}, not a tensor"
    return value


def check_normalizers(impl: Any, case: LogitsCase) -> None:
    """softmax, log_softmax and logsumexp against torch, along the last axis and along dim=0."""
    x = case.logits()
    scales = row_scales(x)  # (N, 1)
    columns = x.T  # the same rows, reduced along dim=0
    probs = assert_tensor(impl.softmax(x), "softmax")
    torch.testing.assert_close(probs, torch.softmax(x, dim=-1), **TOLERANCE, msg=named("softmax"))
    torch.testing.assert_close(
        impl.softmax(columns, dim=0), torch.softmax(columns, dim=0), **TOLERANCE, msg=named("softmax(dim=0)")
    )
    log_probs = assert_tensor(impl.log_softmax(x), "log_softmax")
    assert_close_at_scale(log_probs, torch.log_softmax(x, dim=-1), scales, "log_softmax")
    assert_close_at_scale(
        impl.log_softmax(columns, dim=0), torch.log_softmax(columns, dim=0), scales.T, "log_softmax(dim=0)"
    )
    totals = assert_tensor(impl.logsumexp(x), "logsumexp")
    assert totals.shape == (case.batch,), f"logsumexp of {tuple(x.shape)} has shape {tuple(totals.shape)}"
    assert_close_at_scale(totals, torch.logsumexp(x, dim=-1), scales.squeeze(-1), "logsumexp")
    assert_close_at_scale(
        impl.logsumexp(columns, dim=0),
        torch.logsumexp(columns, dim=0),
        scales.squeeze(-1),
        "logsumexp(dim=0)",
    )


def check_losses(impl: Any, case: LogitsCase) -> None:
    """Both losses against torch, on the batch and on every single row (a mean over rows of
    very different sizes would hide an error in the small ones)."""
    x, targets, binary_targets = case.logits(), case.targets(), case.binary_targets()
    scales = row_scales(x).squeeze(-1)  # (N,)
    loss = assert_tensor(call_cross_entropy(impl, x, targets, case), "cross_entropy")
    assert loss.shape == (), f"cross_entropy returned shape {tuple(loss.shape)}, not a scalar"
    assert_close_at_scale(loss, expected_cross_entropy(x, targets, case), scales.max(), "cross_entropy")
    rows = counted_rows(case, targets)
    per_row = [call_cross_entropy(impl, x[i : i + 1], targets[i : i + 1], case) for i in rows]
    expected = F.cross_entropy(x[rows], targets[rows], reduction="none")
    assert_close_at_scale(torch.stack(per_row), expected, scales[rows], "cross_entropy of one row")

    what = "binary_cross_entropy_with_logits"
    loss = assert_tensor(impl.binary_cross_entropy_with_logits(x, binary_targets), what)
    assert loss.shape == (), f"{what} returned shape {tuple(loss.shape)}, not a scalar"
    assert_close_at_scale(loss, F.binary_cross_entropy_with_logits(x, binary_targets), scales.max(), what)
    per_row = [impl.binary_cross_entropy_with_logits(x[i], binary_targets[i]) for i in range(case.batch)]
    expected = F.binary_cross_entropy_with_logits(x, binary_targets, reduction="none").mean(dim=-1)
    assert_close_at_scale(torch.stack(per_row), expected, scales, f"{what} of one row")


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="NaN loss after a few steps, once the logits grow",
    cases=logits_cases(),
    explicit=[RICH],
    max_examples=MAX_EXAMPLES,
)
def every_function_matches_torch(impl: Any, case: LogitsCase) -> None:
    """A function differs from torch's (softmax, log_softmax, logsumexp, F.cross_entropy,
    F.binary_cross_entropy_with_logits) on logits from +-1 to +-1e4: a max shift is missing,
    a log is taken of a probability that underflowed, or precision was lost on the way."""
    check_normalizers(impl, case)
    check_losses(impl, case)


@SUITE.property(
    layer=Layer.LOSS,
    symptom="loss is flat, or lower than F.cross_entropy reports for the same batch",
    cases=logits_cases(),
    explicit=[RICH, PAD_ZERO],
    max_examples=MAX_EXAMPLES,
)
def losses_match_torch(impl: Any, case: LogitsCase) -> None:
    """cross_entropy or binary_cross_entropy_with_logits differs from the torch loss with the
    same ignore_index, on the batch or on one row: the logits were squashed (softmax, sigmoid)
    before the loss, the ignored targets were counted, or the formula is unstable."""
    check_losses(impl, case)


@SUITE.property(
    layer=Layer.TARGET,
    symptom="loss falls as the amount of padding grows; the model learns to predict padding",
    cases=logits_cases(min_batch=2),
    explicit=[RICH, PAD_ZERO],
    max_examples=MAX_EXAMPLES,
)
def ignored_targets_do_not_count(impl: Any, case: LogitsCase) -> None:
    """cross_entropy changed when the ignored rows were dropped or their logits changed: the
    positions marked ignore_index still enter the sum or the count of the mean."""
    x, targets = case.logits(), case.targets()
    kept = devices.tensor(counted_rows(case, targets))
    loss = call_cross_entropy(impl, x, targets, case)
    torch.testing.assert_close(loss, call_cross_entropy(impl, x[kept], targets[kept], case), **TOLERANCE)
    ignored = targets == case.ignore_index
    noisy = torch.where(ignored.unsqueeze(-1), x.flip(0) * 10 + 1, x)
    torch.testing.assert_close(call_cross_entropy(impl, noisy, targets, case), loss, **TOLERANCE)


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="NaN after a few steps",
    cases=logits_cases(),
    explicit=[RICH],
    max_examples=MAX_EXAMPLES,
)
def finite_at_extreme_logits(impl: Any, case: LogitsCase) -> None:
    """A function returned inf or NaN for float32 logits of +-1e4, which the contract allows:
    an exp of an unshifted logit overflowed or a log of an underflowed probability is -inf."""
    gen = generator(case.seed + 3)
    signs = devices.put(
        torch.where(torch.rand((case.batch, case.classes), generator=gen) < 0.5, EXTREME, -EXTREME)
    )
    x = torch.cat([signs, case.logits()])  # extremes and ordinary rows side by side
    targets = torch.cat([case.targets(), case.targets()])
    binary_targets = torch.cat([case.binary_targets(), case.binary_targets()])
    results = {
        "softmax": impl.softmax(x),
        "log_softmax": impl.log_softmax(x),
        "logsumexp": impl.logsumexp(x),
        "cross_entropy": call_cross_entropy(impl, x, targets, case),
        "binary_cross_entropy_with_logits": impl.binary_cross_entropy_with_logits(x, binary_targets),
    }
    for name, value in results.items():
        assert bool(torch.isfinite(value).all()), f"{name} is not finite for logits of +-{EXTREME:g}"


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="NaN after a few steps once the logits drift to large values",
    cases=logits_cases(),
    explicit=[RICH],
    max_examples=MAX_EXAMPLES,
)
def invariant_to_shifting_the_logits(impl: Any, case: LogitsCase) -> None:
    """Adding +-1e4 to every logit of a row changed softmax, log_softmax or cross_entropy, or
    did not shift logsumexp by the same amount: the computation is not shift-invariant, so it
    overflows where a stable one does not."""
    x, targets = case.logits(limit=8.0), case.targets()
    for shift in (EXTREME - 10, -(EXTREME - 10)):
        moved = x + shift
        torch.testing.assert_close(impl.softmax(moved), impl.softmax(x), **SHIFTED_TOLERANCE)
        torch.testing.assert_close(impl.log_softmax(moved), impl.log_softmax(x), **SHIFTED_TOLERANCE)
        torch.testing.assert_close(impl.logsumexp(moved), impl.logsumexp(x) + shift, **SHIFTED_TOLERANCE)
        torch.testing.assert_close(
            call_cross_entropy(impl, moved, targets, case),
            call_cross_entropy(impl, x, targets, case),
            **SHIFTED_TOLERANCE,
        )


@SUITE.property(
    layer=Layer.LOSS,
    symptom="the loss does not match the log-likelihood computed by hand",
    cases=logits_cases(),
    explicit=[RICH],
    max_examples=MAX_EXAMPLES,
)
def cross_entropy_is_negative_log_softmax_at_the_target(impl: Any, case: LogitsCase) -> None:
    """For a single row, cross_entropy is not -log_softmax(logits)[target]: the loss and the
    log-probabilities disagree (a softmax applied twice, the wrong entry gathered)."""
    x, targets = case.logits(), case.targets()
    log_probs = impl.log_softmax(x)
    rows = counted_rows(case, targets)
    losses = torch.stack([call_cross_entropy(impl, x[i : i + 1], targets[i : i + 1], case) for i in rows])
    expected = -log_probs[rows, targets[rows]]
    assert_close_at_scale(losses, expected, row_scales(x).squeeze(-1)[rows], "cross_entropy vs -log_softmax")


@SUITE.property(
    layer=Layer.LOSS,
    symptom="the loss scale depends on the batch size; the learning rate must be retuned per batch size",
    cases=logits_cases(),
    explicit=[RICH],
    max_examples=MAX_EXAMPLES,
)
def loss_unchanged_when_the_batch_is_duplicated(impl: Any, case: LogitsCase) -> None:
    """Repeating the batch twice changed a loss: it sums instead of averaging, or its
    denominator does not count the same examples as its numerator."""
    x, targets, binary_targets = case.logits(), case.targets(), case.binary_targets()
    twice = torch.cat([x, x])
    torch.testing.assert_close(
        call_cross_entropy(impl, twice, torch.cat([targets, targets]), case),
        call_cross_entropy(impl, x, targets, case),
        **TOLERANCE,
    )
    torch.testing.assert_close(
        impl.binary_cross_entropy_with_logits(twice, torch.cat([binary_targets, binary_targets])),
        impl.binary_cross_entropy_with_logits(x, binary_targets),
        **TOLERANCE,
    )


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="loss is flat: no gradient, or the wrong one, reaches the model",
    cases=logits_cases(),
    explicit=[RICH],
    max_examples=MAX_EXAMPLES,
)
def losses_carry_the_gradients_of_torch(impl: Any, case: LogitsCase) -> None:
    """A loss is not differentiable, or its gradient with respect to the logits differs from
    the gradient of the torch loss: something is detached, or the backward path is unstable."""
    x, targets, binary_targets = case.logits(), case.targets(), case.binary_targets()

    def gradient(loss_fn: Any, *args: Any) -> torch.Tensor:
        logits = x.clone().requires_grad_(True)
        loss = loss_fn(logits, *args)
        assert isinstance(loss, torch.Tensor) and loss.requires_grad, "the loss carries no gradient"
        (grad,) = torch.autograd.grad(loss, logits)
        return grad

    torch.testing.assert_close(
        gradient(lambda logits, t: call_cross_entropy(impl, logits, t, case), targets),
        gradient(lambda logits, t: expected_cross_entropy(logits, t, case), targets),
        **TOLERANCE,
    )
    torch.testing.assert_close(
        gradient(impl.binary_cross_entropy_with_logits, binary_targets),
        gradient(F.binary_cross_entropy_with_logits, binary_targets),
        **TOLERANCE,
    )


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="NaN or inf only under mixed precision (autocast, .half())",
    cases=logits_cases(max_magnitude=2),
    explicit=[RICH],
    max_examples=MAX_EXAMPLES,
)
def half_precision_agrees_with_float32(impl: Any, case: LogitsCase) -> None:
    """On float16 and bfloat16 logits of at most +-60 (on the session's device), a function is
    not finite or far from the float32 result on the same values: an overflow in reduced
    precision (an exp of a large logit, a huge fill value) or a computation that needs float32
    range."""
    x32, targets, binary_targets = case.logits(limit=60.0), case.targets(), case.binary_targets()
    for dtype, tolerance in HALF_TOLERANCE.items():
        low = x32.to(dtype)
        exact = low.float()  # the oracle sees the same rounded inputs
        pairs = {
            "softmax": (impl.softmax(low), torch.softmax(exact, dim=-1)),
            "log_softmax": (impl.log_softmax(low), torch.log_softmax(exact, dim=-1)),
            "logsumexp": (impl.logsumexp(low), torch.logsumexp(exact, dim=-1)),
            "cross_entropy": (
                call_cross_entropy(impl, low, targets, case),
                expected_cross_entropy(exact, targets, case),
            ),
            "binary_cross_entropy_with_logits": (
                impl.binary_cross_entropy_with_logits(low, binary_targets.to(dtype)),
                F.binary_cross_entropy_with_logits(exact, binary_targets.to(dtype).float()),
            ),
        }
        for name, (actual, expected) in pairs.items():
            torch.testing.assert_close(actual.float(), expected, **tolerance, msg=named(f"{name} in {dtype}"))
