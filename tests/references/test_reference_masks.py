"""The mask references against their definitions, and the suite against another correct
implementation."""

from __future__ import annotations

import types

import pytest
import torch

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.masks import SUITE
from pytest_mlbugs.reference_impls import masks


def test_causal_mask_is_the_lower_triangle():
    expected = torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    assert torch.equal(masks.create_causal_mask(3), expected)
    assert masks.create_causal_mask(2, device="meta").device.type == "meta"


def test_padding_mask_marks_real_tokens_with_a_non_zero_pad_id():
    ids = torch.tensor([[5, 0, 2, 2], [0, 7, 3, 1]])
    mask = masks.create_padding_mask(ids, pad_token_id=2)
    expected = torch.tensor([[True, True, False, False], [True, True, True, True]])
    assert mask.shape == (2, 1, 1, 4) and mask.dtype == torch.bool
    assert torch.equal(mask[:, 0, 0], expected)


def test_combined_mask_matches_what_sdpa_accepts():
    ids = torch.tensor([[4, 4, 0, 0], [4, 4, 4, 4]])
    combined = masks.combine_masks(masks.create_causal_mask(4), masks.create_padding_mask(ids))
    assert combined.shape == (2, 1, 4, 4) and combined.dtype == torch.bool
    q = k = v = torch.randn(2, 1, 4, 3)
    expected = torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=torch.ones(4, 4, dtype=torch.bool).tril() & (ids != 0)[:, None, None, :]
    )
    actual = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=combined)
    torch.testing.assert_close(actual, expected, atol=0, rtol=0)


def _causal(seq_len, device=None):
    positions = torch.arange(seq_len, device=device)
    return positions.unsqueeze(0) <= positions.unsqueeze(1)


ALTERNATIVE = types.SimpleNamespace(
    create_causal_mask=_causal,
    create_padding_mask=lambda input_ids, pad_token_id=0: input_ids.ne(pad_token_id)[:, None, None, :],
    combine_masks=lambda causal, padding: padding.expand(-1, -1, causal.shape[0], -1) * causal,
)


@pytest.mark.parametrize("impl", [masks, ALTERNATIVE], ids=["reference", "arange"])
@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_every_property_accepts_a_correct_implementation(prop, impl):
    assert check_property(prop, impl, seed=0) is None
