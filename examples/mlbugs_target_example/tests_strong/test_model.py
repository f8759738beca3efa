"""The strong suite for tinyclf.model: independent formulas, tight tolerances, the meta device."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from tinyclf.model import Classifier, PositionalEncoding, SelfAttention, causal_mask, padding_mask


def test_causal_mask_is_boolean_and_true_on_and_below_the_diagonal():
    mask = causal_mask(4)
    assert mask.dtype == torch.bool
    expected = torch.tensor([[i >= j for j in range(4)] for i in range(4)])
    assert torch.equal(mask, expected)


@pytest.mark.parametrize("build", [lambda: causal_mask(3, device=torch.device("meta"))])
def test_masks_follow_the_requested_device(build):
    assert build().device.type == "meta"


def test_padding_mask_marks_real_tokens_of_the_given_pad_id_on_the_key_axis():
    ids = torch.tensor([[5, 1, 5], [0, 5, 2]])
    mask = padding_mask(ids, pad_token_id=5)
    assert mask.shape == (2, 1, 1, 3)
    assert torch.equal(mask[:, 0, 0], torch.tensor([[False, True, False], [True, False, True]]))


def test_padding_mask_treats_id_zero_as_padding_by_default():
    assert torch.equal(padding_mask(torch.tensor([[0, 1, 2]]))[:, 0, 0], torch.tensor([[False, True, True]]))


def closed_form_table(max_len: int, d_model: int) -> torch.Tensor:
    table = torch.zeros(max_len, d_model, dtype=torch.float64)
    for pos in range(max_len):
        for i in range(0, d_model, 2):
            angle = pos / 10000 ** (i / d_model)
            table[pos, i] = math.sin(angle)
            table[pos, i + 1] = math.cos(angle)
    return table


def test_positional_table_matches_the_closed_form():
    pe = PositionalEncoding(d_model=8, max_len=64)
    torch.testing.assert_close(pe.pe[0].double(), closed_form_table(64, 8), atol=1e-5, rtol=0)


def test_positional_table_is_a_persistent_buffer_not_a_parameter():
    pe = PositionalEncoding(d_model=8, max_len=16)
    assert "pe" in dict(pe.named_buffers())
    assert "pe" in pe.state_dict()
    assert not list(pe.parameters())


def test_positional_table_holds_512_positions_by_default():
    assert PositionalEncoding(d_model=8).pe.shape == (1, 512, 8)


def test_positional_encoding_is_built_on_the_default_device():
    with torch.device("meta"):
        pe = PositionalEncoding(d_model=8, max_len=16)
    assert pe.pe.device.type == "meta"


def test_positional_encoding_adds_the_first_rows_of_the_table():
    pe = PositionalEncoding(d_model=8, max_len=64)
    x = torch.randn(2, 5, 8)
    torch.testing.assert_close(pe(x).double(), x.double() + closed_form_table(5, 8), atol=1e-5, rtol=0)


def test_self_attention_matches_scaled_dot_product_attention_with_a_mask():
    torch.manual_seed(0)
    attn = SelfAttention(d_model=8, num_heads=2)
    x = torch.randn(2, 5, 8)
    mask = torch.rand(2, 1, 5, 5) > 0.4
    mask |= torch.eye(5, dtype=torch.bool)  # every query keeps one key

    def heads(t):
        return t.view(2, 5, 2, 4).transpose(1, 2)

    q, k, v = heads(attn.q_proj(x)), heads(attn.k_proj(x)), heads(attn.v_proj(x))
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    expected = attn.out_proj(expected.transpose(1, 2).reshape(2, 5, 8))
    torch.testing.assert_close(attn(x, mask), expected, atol=1e-5, rtol=1e-5)


def test_classifier_is_pre_norm_attention_with_a_residual_and_a_mean_over_real_tokens():
    torch.manual_seed(0)
    model = Classifier(vocab_size=20, d_model=8, num_heads=2, num_classes=3).eval()
    ids = torch.tensor([[3, 4, 0, 0], [5, 6, 7, 8]])
    keep = ids != 0
    x = model.pos(model.embed(ids))
    x = x + model.attn(model.norm(x), keep[:, None, None, :])
    pooled = torch.stack([x[b][keep[b]].mean(dim=0) for b in range(2)])
    torch.testing.assert_close(model(ids), model.head(pooled), atol=1e-5, rtol=1e-5)


def test_classifier_applies_dropout_in_train_mode():
    torch.manual_seed(0)
    model = Classifier(vocab_size=20, d_model=8, num_heads=2, num_classes=3).train()
    model.dropout.p = 0.5
    ids = torch.randint(1, 20, (4, 6))
    assert not torch.allclose(model(ids), model(ids))


def test_classifier_masks_its_own_pad_id_and_a_single_real_token_is_its_own_mean():
    torch.manual_seed(0)
    model = Classifier(vocab_size=20, d_model=8, num_heads=2, num_classes=3, pad_token_id=5).eval()
    ids = torch.tensor([[3, 5, 5, 5], [0, 6, 7, 8]])  # id 0 is a real token here
    keep = ids != 5
    x = model.pos(model.embed(ids))
    x = x + model.attn(model.norm(x), keep[:, None, None, :])
    pooled = torch.stack([x[0, 0], x[1].mean(dim=0)])
    torch.testing.assert_close(model(ids), model.head(pooled), atol=1e-5, rtol=1e-5)


def test_classifier_computes_in_the_dtype_of_its_weights():
    torch.manual_seed(0)
    model = Classifier(vocab_size=20, d_model=8, num_heads=2, num_classes=3).eval().to(torch.bfloat16)
    assert model(torch.tensor([[3, 4, 0, 0]])).dtype == torch.bfloat16


def test_classifier_norm_is_a_layer_norm_with_the_default_epsilon():
    model = Classifier(vocab_size=20, d_model=8, num_heads=2, num_classes=3)
    x = torch.full((1, 2, 8), 0.5)  # constant positions: only the epsilon keeps them finite
    expected = F.layer_norm(x, (8,), model.norm.weight, model.norm.bias, eps=1e-5)
    torch.testing.assert_close(model.norm(x), expected)


def test_every_linear_layer_learns_a_bias():
    model = Classifier(vocab_size=20, d_model=8, num_heads=2, num_classes=3)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 5  # q, k, v and out projections, and the head
    assert all(m.bias is not None and m.bias.requires_grad for m in linears)
