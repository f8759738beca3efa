"""Contract 18: ``lm_loss.causal_lm_loss`` and ``lm_loss.labels_from_batch``.

The oracle is ``F.cross_entropy`` on the shifted, flattened logits in float32 with
``ignore_index``. The exact invariants name what a failure means: the first label and the last
position's logits do not count (their gradients are zero), one mean over every counted token of
the batch (not a mean of row means), a float32 reduction for half-precision logits, and labels
that differ from the inputs exactly on the padding.

There is no meta-device property: selecting the counted tokens with a boolean mask
(``per_token[keep]``) is a correct style, and its output size depends on the data, which the meta
device cannot compute. ``--mlbugs-device`` runs every property on the device it names.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.strategies.lm_loss import LMLossCase, lm_loss_cases
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "lm_loss",
    names=("causal_lm_loss", "labels_from_batch"),
    contract="contract 18: causal_lm_loss(logits, labels, ignore_index=-100), "
    "labels_from_batch(input_ids, attention_mask, ignore_index=-100)",
)

#: a short row and a long one, a non-default ignore_index and a padding id that is a real token
RICH = LMLossCase(vocab=5, lengths=(2, 6, 4), ignore_index=-1, pad_token_id=3, seed=1)
#: the smallest vocabulary, with padding: every token costs 0, and token id 0 is the only valid
#: index (an ignored position looked up at any other id reads outside the vocabulary)
ONE_TOKEN = LMLossCase(vocab=1, lengths=(2, 5), ignore_index=-100, pad_token_id=0, seed=5)
ATOL = 1e-5
RTOL = 1e-5


def expected_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int) -> torch.Tensor:
    """PyTorch's cross-entropy of ``logits[:, t]`` against ``labels[:, t + 1]``, in float32."""
    vocab = logits.shape[-1]
    shifted = logits[:, :-1].reshape(-1, vocab).float()
    return F.cross_entropy(shifted, labels[:, 1:].reshape(-1), ignore_index=ignore_index)


def loss_of(impl: Any, case: LMLossCase, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    loss = impl.causal_lm_loss(logits, labels, ignore_index=case.ignore_index)
    assert isinstance(loss, torch.Tensor) and loss.dim() == 0, f"the loss is {loss!r}, not a 0-d tensor"
    return loss


@SUITE.property(
    layer=Layer.TARGET,
    symptom="training loss drops to near zero at once while generation is garbage: the model copies",
    cases=lm_loss_cases(),
    explicit=[RICH],
    max_examples=3,
)
def first_label_and_last_logits_do_not_count(impl: Any, case: LMLossCase) -> None:
    """The loss depends on the last position's logits (their gradient is not zero) or on the
    first label: the labels are not shifted, or shifted the wrong way."""
    logits = case.make_logits().requires_grad_(True)
    labels = case.make_labels()
    loss = loss_of(impl, case, logits, labels)
    loss.backward()
    assert logits.grad is not None, "no gradient reached the logits"
    last = logits.grad[:, -1].abs().max().item()
    assert last == 0.0, f"the last position's logits have a gradient of up to {last:g}: they have no target"
    changed = labels.clone()
    changed[:, 0] = (labels[:, 0] + 1) % case.vocab
    with torch.no_grad():
        moved = loss_of(impl, case, logits, changed)
    torch.testing.assert_close(moved, loss.detach(), atol=0, rtol=0, msg="the first label changed the loss")


@SUITE.property(
    layer=Layer.LOSS,
    symptom="the loss is off from F.cross_entropy; it moves with the amount of padding",
    cases=lm_loss_cases(),
    explicit=[
        RICH,
        LMLossCase(vocab=4, lengths=(3, 3), ignore_index=-100, pad_token_id=0, seed=2),
        ONE_TOKEN,
    ],
    max_examples=6,
)
def matches_cross_entropy_on_shifted_logits(impl: Any, case: LMLossCase) -> None:
    """The loss or its gradient differs from F.cross_entropy on the shifted, flattened logits
    with ignore_index: the shift, the softmax axis, the ignored positions, the mean or the
    logits (already a softmax) are off; with a one-token vocabulary, an ignored position is
    looked up at a token id outside the vocabulary."""
    logits = case.make_logits()
    labels = case.make_labels()
    actual_leaf, expected_leaf = logits.clone().requires_grad_(True), logits.clone().requires_grad_(True)
    actual = loss_of(impl, case, actual_leaf, labels)
    expected = expected_loss(expected_leaf, labels, case.ignore_index)
    assert actual.dtype == torch.float32, f"the loss is {actual.dtype}, not float32"
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=RTOL)
    actual.backward()
    expected.backward()
    assert actual_leaf.grad is not None, "no gradient reached the logits"
    torch.testing.assert_close(actual_leaf.grad, expected_leaf.grad, atol=1e-6, rtol=1e-4)


@SUITE.property(
    layer=Layer.LOSS,
    symptom="short sequences weigh as much as long ones: the model over-fits short examples",
    cases=lm_loss_cases(min_length=2, max_length=7),
    explicit=[LMLossCase(vocab=4, lengths=(2, 7), ignore_index=-100, pad_token_id=1, seed=3)],
    max_examples=2,
)
def one_mean_over_every_counted_token(impl: Any, case: LMLossCase) -> None:
    """The loss is not one mean over all counted tokens of the batch: rows of different lengths
    are averaged separately and then averaged (a mean of row means)."""
    logits, labels = case.make_logits(), case.make_labels()
    with torch.no_grad():
        actual = loss_of(impl, case, logits, labels)
    per_token = F.cross_entropy(
        logits[:, :-1].transpose(1, 2).float(),
        labels[:, 1:],
        ignore_index=case.ignore_index,
        reduction="none",
    )  # (B, T-1), zero where ignored
    counted = (labels[:, 1:] != case.ignore_index).float()
    token_mean = per_token.sum() / counted.sum()
    row_means = (per_token.sum(1) / counted.sum(1)).mean()
    hint = " (that is the mean of the row means)" if torch.isclose(actual, row_means, atol=ATOL) else ""
    assert torch.isclose(actual, token_mean, atol=ATOL, rtol=RTOL), (
        f"loss {actual.item():.6f}, token-level mean {token_mean.item():.6f}{hint}"
    )


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="bfloat16 training reports a noisy, biased loss and learns worse than float32",
    cases=lm_loss_cases(min_vocab=32, max_vocab=64),
    explicit=[LMLossCase(vocab=48, lengths=(5, 3), ignore_index=-100, pad_token_id=2, seed=4)],
    max_examples=2,
)
def half_precision_logits_are_reduced_in_float32(impl: Any, case: LMLossCase) -> None:
    """For bfloat16 or float16 logits the loss is not float32, or not the float32 loss of the
    same (rounded) logits: the log-softmax over the vocabulary ran in half precision."""
    labels = case.make_labels()
    for dtype in (torch.bfloat16, torch.float16):
        logits = case.make_logits(dtype=dtype, scale=4.0)
        with torch.no_grad():
            actual = loss_of(impl, case, logits, labels)
            expected = expected_loss(logits, labels, case.ignore_index)
        assert actual.dtype == torch.float32, f"{dtype} logits gave a {actual.dtype} loss, not float32"
        torch.testing.assert_close(actual, expected, atol=ATOL, rtol=RTOL)


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="the loss becomes inf, then NaN, as soon as the model gets confident",
    cases=lm_loss_cases(),
    explicit=[RICH],
    max_examples=2,
)
def finite_for_confident_logits(impl: Any, case: LMLossCase) -> None:
    """Logits spread over thousands (a confident model) gave an infinite or wrong loss: the
    log-probabilities were computed as the log of a softmax that underflows."""
    logits, labels = case.make_logits(scale=2000.0), case.make_labels()
    with torch.no_grad():
        actual = loss_of(impl, case, logits, labels)
        expected = expected_loss(logits, labels, case.ignore_index)
    assert torch.isfinite(actual), f"the loss is {actual.item()}"
    torch.testing.assert_close(actual, expected, atol=1e-3, rtol=RTOL)


@SUITE.property(
    layer=Layer.TARGET,
    symptom="the model learns to predict padding; the batch's input ids change under the caller",
    cases=lm_loss_cases(),
    explicit=[RICH],
    max_examples=3,
)
def labels_from_batch_masks_exactly_the_padding(impl: Any, case: LMLossCase) -> None:
    """labels_from_batch does not return the input ids with ignore_index exactly where the
    attention mask is 0 (a long or a boolean mask), or changes the input ids it was given."""
    input_ids = devices.put(case.make_input_ids())
    long_mask = devices.put(case.make_attention_mask())
    expected = case.make_labels()
    for mask in (long_mask, long_mask.bool()):
        original = input_ids.clone()
        labels = impl.labels_from_batch(input_ids, mask, ignore_index=case.ignore_index)
        torch.testing.assert_close(
            input_ids, original, atol=0, rtol=0, msg="labels_from_batch changed input_ids"
        )
        assert labels.dtype == input_ids.dtype, f"labels are {labels.dtype}, input ids {input_ids.dtype}"
        torch.testing.assert_close(
            labels, expected, atol=0, rtol=0, msg=f"with a {mask.dtype} attention mask"
        )
