"""The attention reference against a closed formula, and the suite against other correct styles."""

from __future__ import annotations

import math
import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.attention import SUITE
from pytest_mlbugs.reference_impls import attention as reference


def closed_form(module: nn.Module, query, key, value, mask, num_heads: int) -> torch.Tensor:
    """softmax(Q_h K_h^T / sqrt(d_k)) V_h per head, one head at a time, then the output projection."""
    d_model = query.shape[-1]
    d_k = d_model // num_heads
    q, k, v = module.q_proj(query), module.k_proj(key), module.v_proj(value)
    heads = []
    for h in range(num_heads):
        cols = slice(h * d_k, (h + 1) * d_k)
        scores = q[..., cols] @ k[..., cols].transpose(-2, -1) / math.sqrt(d_k)  # (B, Tq, Tk)
        if mask is not None:
            allowed = mask.expand(query.shape[0], 1, query.shape[1], key.shape[1])[:, 0]
            scores = torch.where(allowed, scores, torch.tensor(float("-inf")))
        heads.append(torch.softmax(scores, dim=-1) @ v[..., cols])
    return module.out_proj(torch.cat(heads, dim=-1))


@pytest.mark.parametrize("q_len,kv_len", [(3, 5), (4, 4), (1, 3)])
@pytest.mark.parametrize("with_mask", [False, True])
def test_reference_matches_the_closed_form(q_len, kv_len, with_mask):
    torch.manual_seed(0)
    batch, d_model, num_heads = 2, 8, 2
    module = reference.MultiHeadAttention(d_model, num_heads).eval()
    query = torch.randn(batch, q_len, d_model)
    key, value = torch.randn(batch, kv_len, d_model), torch.randn(batch, kv_len, d_model)
    mask = None
    if with_mask:
        mask = torch.rand(batch, 1, q_len, kv_len) < 0.5
        mask[..., 0] = True
    with torch.no_grad():
        actual = module(query, key, value, mask=mask)
        expected = closed_form(module, query, key, value, mask, num_heads)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_dropout_acts_in_training_mode_only():
    torch.manual_seed(0)
    module = reference.MultiHeadAttention(8, 2, dropout=1.0)
    x = torch.randn(2, 3, 8)
    with torch.no_grad():
        trained = module.train()(x, x, x)
        evaluated = module.eval()(x, x, x)
    # every attention weight dropped: only the output projection's bias is left
    torch.testing.assert_close(trained, module.out_proj.bias.expand_as(trained))
    torch.testing.assert_close(evaluated, closed_form(module, x, x, x, None, 2))


class EinsumAttention(nn.Module):
    """A correct implementation in another style: einsum, finfo.min fill, functional dropout."""

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.h, self.p = num_heads, dropout
        self.q_proj, self.k_proj = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)
        self.v_proj, self.out_proj = nn.Linear(d_model, d_model), nn.Linear(d_model, d_model)

    def forward(self, query, key, value, mask=None):
        b, tq, d = query.shape
        q = self.q_proj(query).reshape(b, tq, self.h, -1)
        k = self.k_proj(key).reshape(b, key.shape[1], self.h, -1)
        v = self.v_proj(value).reshape(b, value.shape[1], self.h, -1)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) * q.shape[-1] ** -0.5
        if mask is not None:
            scores = scores.masked_fill(mask == 0, torch.finfo(scores.dtype).min)
        weights = F.dropout(scores.softmax(-1), self.p, self.training)
        return self.out_proj(torch.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, tq, d))


class FusedAttention(nn.Module):
    """A correct implementation in another style: PyTorch's fused scaled_dot_product_attention."""

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.num_heads, self.dropout = num_heads, dropout
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            setattr(self, name, nn.Linear(d_model, d_model))

    def forward(self, query, key, value, mask=None):
        def split(x):
            return x.unflatten(-1, (self.num_heads, -1)).permute(0, 2, 1, 3)

        q, k, v = split(self.q_proj(query)), split(self.k_proj(key)), split(self.v_proj(value))
        p = self.dropout if self.training else 0.0
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.out_proj(context.permute(0, 2, 1, 3).flatten(2))


ALTERNATIVES = {
    "reference": reference,
    "einsum": types.SimpleNamespace(MultiHeadAttention=EinsumAttention),
    "fused": types.SimpleNamespace(MultiHeadAttention=FusedAttention),
}


@pytest.mark.parametrize("impl_name", sorted(ALTERNATIVES))
@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_every_correct_style_passes_every_property(impl_name, prop):
    assert check_property(prop, ALTERNATIVES[impl_name], seed=0) is None


class UnscaledAttention(EinsumAttention):
    def forward(self, query, key, value, mask=None):
        b, tq, d = query.shape
        q = self.q_proj(query).reshape(b, tq, self.h, -1)
        k = self.k_proj(key).reshape(b, key.shape[1], self.h, -1)
        v = self.v_proj(value).reshape(b, value.shape[1], self.h, -1)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k)  # the 1/sqrt(d_k) is missing
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        return self.out_proj(torch.einsum("bhqk,bkhd->bqhd", scores.softmax(-1), v).reshape(b, tq, d))


def test_a_broken_implementation_fails_the_first_property():
    broken = types.SimpleNamespace(MultiHeadAttention=UnscaledAttention)
    failure = check_property(SUITE.properties[0], broken, seed=0)
    assert failure is not None and "not close" in failure.message
