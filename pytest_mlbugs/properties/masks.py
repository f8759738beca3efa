"""Contract 7: ``masks.create_causal_mask``, ``create_padding_mask`` and ``combine_masks``."""

from __future__ import annotations

from typing import Any

import torch
from hypothesis import strategies as st

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.strategies.masks import PaddingCase, padding_cases
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "masks",
    names=("create_causal_mask", "create_padding_mask", "combine_masks"),
    contract="contract 7: create_causal_mask, create_padding_mask, combine_masks",
)

RICH = PaddingCase(batch=3, seq_len=5, vocab_size=7, pad_token_id=3, seed=1)


def lengths() -> st.SearchStrategy[int]:
    return st.integers(1, 8)


def lower_triangle(length: int) -> torch.Tensor:
    """The causal mask by its definition: query t may see key s when s <= t (on the session's
    device)."""
    positions = torch.arange(length, **devices.kwargs())
    return positions[:, None] >= positions[None, :]


def assert_bool_mask(mask: Any, shape: tuple[int, ...], what: str) -> None:
    assert isinstance(mask, torch.Tensor), f"{what} is a {type(mask).__name__}, not a tensor"
    assert mask.dtype == torch.bool, f"{what} has dtype {mask.dtype}, not torch.bool"
    assert tuple(mask.shape) == shape, f"{what} has shape {tuple(mask.shape)}, expected {shape}"


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="training loss is suspiciously low, generation is garbage: the model reads the future",
    cases=lengths(),
    explicit=[5, 1],
    max_examples=6,
)
def causal_mask_is_lower_triangular(impl: Any, seq_len: int) -> None:
    """The causal mask is not ``torch.tril(ones).bool()``: it lets a query see the future,
    hides its own position, is transposed, or is not boolean (True = may attend)."""
    mask = impl.create_causal_mask(seq_len, **devices.kwargs())
    assert_bool_mask(mask, (seq_len, seq_len), "create_causal_mask(T)")
    expected = devices.to_cpu(lower_triangle(seq_len))
    assert torch.equal(devices.to_cpu(mask), expected), f"create_causal_mask({seq_len}) =\n{mask.int()}"


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="RuntimeError: Expected all tensors to be on the same device, once moved to the GPU",
    cases=lengths(),
    explicit=[4],
    max_examples=2,
)
def causal_mask_follows_the_device_argument(impl: Any, seq_len: int) -> None:
    """``create_causal_mask(T, device=...)`` ignores its device: the mask is built on a
    hard-coded device and must be moved by every caller."""
    mask = impl.create_causal_mask(seq_len, device=torch.device("meta"))
    assert_bool_mask(mask, (seq_len, seq_len), "create_causal_mask(T, device='meta')")
    assert mask.device.type == "meta", f"asked for meta, got a mask on {mask.device}"
    mask = impl.create_causal_mask(seq_len, device="meta")
    assert mask.device.type == "meta", f"asked for 'meta' (a string), got a mask on {mask.device}"


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="the model attends to padding: results change with the amount of padding in a batch",
    cases=padding_cases(),
    explicit=[RICH],
    max_examples=6,
)
def padding_mask_hides_pad_tokens(impl: Any, case: PaddingCase) -> None:
    """The padding mask is not ``(input_ids != pad_token_id)`` shaped (B, 1, 1, T): it masks
    queries instead of keys, ignores a non-zero pad id, or has True on the padding."""
    input_ids = case.make_input_ids()
    mask = impl.create_padding_mask(input_ids, pad_token_id=case.pad_token_id)
    assert_bool_mask(mask, (case.batch, 1, 1, case.seq_len), "create_padding_mask(ids, pad)")
    expected = (input_ids != case.pad_token_id)[:, None, None, :]
    assert torch.equal(mask, expected), f"ids\n{input_ids}\npad {case.pad_token_id}, got\n{mask.int()}"
    default = impl.create_padding_mask(input_ids)
    assert torch.equal(default, (input_ids != 0)[:, None, None, :]), "the default pad_token_id is not 0"


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="the model attends to padding or to the future although both masks look right alone",
    cases=padding_cases(),
    explicit=[RICH],
    max_examples=6,
)
def combined_mask_is_causal_and_padding(impl: Any, case: PaddingCase) -> None:
    """``combine_masks(causal, padding)`` is not their logical AND of shape (B, 1, T, T):
    an OR lets padding or the future through, or the result broadcasts wrongly."""
    length = case.seq_len
    causal = lower_triangle(length)
    padding = (case.make_input_ids() != case.pad_token_id)[:, None, None, :]
    combined = impl.combine_masks(causal, padding)
    shape = (case.batch, 1, length, length)
    assert_bool_mask(combined, shape, "combine_masks(causal, padding)")
    assert torch.equal(combined, causal & padding), f"combine_masks gave\n{combined.int()}"
    on_meta = impl.combine_masks(causal.to("meta"), padding.to("meta"))
    assert on_meta.device.type == "meta", f"meta inputs, combined mask on {on_meta.device}"


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="the model attends to padding or to the future",
    cases=padding_cases(),
    explicit=[RICH],
    max_examples=4,
)
def masks_compose_into_the_decoder_mask(impl: Any, case: PaddingCase) -> None:
    """The three functions used together do not give ``tril & (ids != pad)`` of shape
    (B, 1, T, T): the masks do not fit together."""
    input_ids = case.make_input_ids()
    length = case.seq_len
    combined = impl.combine_masks(
        impl.create_causal_mask(length, **devices.kwargs()),
        impl.create_padding_mask(input_ids, case.pad_token_id),
    )
    assert_bool_mask(combined, (case.batch, 1, length, length), "the combined decoder mask")
    expected = lower_triangle(length) & (input_ids != case.pad_token_id)[:, None, None, :]
    assert torch.equal(combined, expected), f"decoder mask\n{combined.int()}"
