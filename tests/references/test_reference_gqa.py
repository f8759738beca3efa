"""The grouped-query attention reference against a closed formula, and the suite against other
correct styles (Hugging Face's repeat_kv with an additive mask, fused attention with
enable_gqa=True, a grouped einsum) and hand-written bugs that no mutator writes."""

from __future__ import annotations

import math
import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.gqa import SUITE
from pytest_mlbugs.reference_impls import gqa as reference
from pytest_mlbugs.reference_impls.rope import RotaryEmbedding


def closed_form(module, x: torch.Tensor, num_heads: int, num_kv_heads: int) -> torch.Tensor:
    """One query head and one position at a time: softmax over keys 0..t of q.k / sqrt(hd),
    with key/value head h // (num_heads // num_kv_heads), then the output projection."""
    batch, length, d_model = x.shape
    head_dim = d_model // num_heads
    rotary = RotaryEmbedding(head_dim)
    q = rotary(module.q_proj(x).view(batch, length, num_heads, head_dim).transpose(1, 2))
    k = rotary(module.k_proj(x).view(batch, length, num_kv_heads, head_dim).transpose(1, 2))
    v = module.v_proj(x).view(batch, length, num_kv_heads, head_dim).transpose(1, 2)
    context = torch.zeros(batch, length, num_heads, head_dim)
    for h in range(num_heads):
        kv = h // (num_heads // num_kv_heads)
        for t in range(length):
            scores = k[:, kv, : t + 1] @ q[:, h, t].unsqueeze(-1) / math.sqrt(head_dim)  # (B, t+1, 1)
            context[:, t, h] = (torch.softmax(scores, dim=1) * v[:, kv, : t + 1]).sum(1)
    return module.o_proj(context.reshape(batch, length, d_model))


@pytest.mark.parametrize(("num_heads", "num_kv_heads"), [(4, 2), (3, 1), (2, 2)])
def test_reference_matches_the_closed_form(num_heads, num_kv_heads):
    torch.manual_seed(0)
    module = reference.GroupedQueryAttention(4 * num_heads, num_heads, num_kv_heads)
    x = torch.randn(2, 5, 4 * num_heads)
    with torch.no_grad():
        out, (k, v) = module(x)
        expected = closed_form(module, x, num_heads, num_kv_heads)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert k.shape == v.shape == (2, num_kv_heads, 5, 4)


def test_reference_decodes_in_pieces_as_in_one_pass():
    torch.manual_seed(1)
    module = reference.GroupedQueryAttention(16, 4, 2)
    x = torch.randn(1, 6, 16)
    with torch.no_grad():
        full, _ = module(x)
        first, cache = module(x[:, :4])
        second, cache = module(x[:, 4:], past_kv=cache)
    torch.testing.assert_close(torch.cat([first, second], 1), full, atol=1e-5, rtol=1e-5)
    assert cache[0].shape == (1, 2, 6, 4)


class _Projections(nn.Module):
    """The contract's submodules and a rotary embedding, for the styles below."""

    def __init__(self, d_model, num_heads, num_kv_heads, max_seq_len=2048, rope_base=10000.0):
        super().__init__()
        self.num_heads, self.num_kv_heads = num_heads, num_kv_heads
        self.head_dim = d_model // num_heads
        self.q_proj = nn.Linear(d_model, num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(d_model, num_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(d_model, num_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(num_heads * self.head_dim, d_model, bias=False)
        self.rotary_emb = RotaryEmbedding(self.head_dim, max_seq_len, rope_base)

    def qkv(self, x, past_kv):
        """Rotated q (B, H, T, hd) and the whole cache's k, v (B, KV, S, hd)."""
        bsz, q_len, _ = x.size()
        past_len = 0 if past_kv is None else past_kv[0].size(-2)
        q = self.q_proj(x).view(bsz, q_len, -1, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(bsz, q_len, -1, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(bsz, q_len, -1, self.head_dim).transpose(1, 2)
        q, k = self.rotary_emb(q, past_len), self.rotary_emb(k, past_len)
        if past_kv is not None:
            k, v = torch.cat((past_kv[0], k), dim=-2), torch.cat((past_kv[1], v), dim=-2)
        return q, k, v

    def merge(self, context):
        bsz, _, q_len, _ = context.shape
        return self.o_proj(context.transpose(1, 2).reshape(bsz, q_len, -1))


def repeat_kv(hidden_states: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(B, KV, S, hd) -> (B, KV * n_rep, S, hd), each kv head repeated for its group."""
    batch, num_key_value_heads, slen, head_dim = hidden_states.shape
    hidden_states = hidden_states[:, :, None, :, :].expand(batch, num_key_value_heads, n_rep, slen, head_dim)
    return hidden_states.reshape(batch, num_key_value_heads * n_rep, slen, head_dim)


class EagerAttention(_Projections):
    """A correct implementation in another style: Hugging Face's eager attention, with
    repeat_kv and an additive mask of finfo.min built for the cached offset."""

    def forward(self, hidden_states, past_kv=None):
        q, k, v = self.qkv(hidden_states, past_kv)
        groups = self.num_heads // self.num_kv_heads
        key_states, value_states = repeat_kv(k, groups), repeat_kv(v, groups)
        q_len, kv_len = q.shape[-2], k.shape[-2]
        causal_mask = torch.full((q_len, kv_len), torch.finfo(q.dtype).min, device=q.device)
        causal_mask = torch.triu(causal_mask, diagonal=kv_len - q_len + 1)
        attn_weights = torch.matmul(q, key_states.transpose(2, 3)) * self.head_dim**-0.5 + causal_mask
        attn_weights = F.softmax(attn_weights, dim=-1, dtype=torch.float32).to(q.dtype)
        return self.merge(torch.matmul(attn_weights, value_states)), (k, v)


class FusedAttention(_Projections):
    """A correct implementation in another style: scaled_dot_product_attention with
    enable_gqa=True and a boolean mask offset by the cache."""

    def forward(self, x, past_kv=None):
        q, k, v = self.qkv(x, past_kv)
        q_len, kv_len = q.shape[-2], k.shape[-2]
        mask = torch.ones(q_len, kv_len, dtype=torch.bool, device=x.device).tril(kv_len - q_len)
        return self.merge(F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)), (k, v)


class GroupedEinsumAttention(_Projections):
    """A correct implementation in another style: query heads viewed as (KV, group) and one
    einsum per group, without repeating the keys and values."""

    def forward(self, x, past_kv=None):
        q, k, v = self.qkv(x, past_kv)
        b, _, t, d = q.shape
        grouped = q.view(b, self.num_kv_heads, -1, t, d)  # query head h = kv * group + g
        scores = torch.einsum("bkgtd,bksd->bkgts", grouped, k) / math.sqrt(d)
        offset = k.shape[-2] - t
        future = (
            torch.arange(k.shape[-2], device=x.device)[None, :]
            > torch.arange(t, device=x.device)[:, None] + offset
        )
        weights = scores.masked_fill(future, float("-inf")).softmax(-1)
        context = torch.einsum("bkgts,bksd->bkgtd", weights, v).reshape(b, -1, t, d)
        return self.merge(context), (k, v)


ALTERNATIVES = {
    "reference": reference,
    "eager": types.SimpleNamespace(GroupedQueryAttention=EagerAttention),
    "fused": types.SimpleNamespace(GroupedQueryAttention=FusedAttention),
    "grouped_einsum": types.SimpleNamespace(GroupedQueryAttention=GroupedEinsumAttention),
}


@pytest.mark.parametrize("impl_name", sorted(ALTERNATIVES))
@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_every_correct_style_passes_every_property(impl_name, prop):
    assert check_property(prop, ALTERNATIVES[impl_name], seed=0) is None


class StridedGroupsAttention(GroupedEinsumAttention):
    """Query heads grouped as (group, KV): head h reads kv head h % num_kv_heads."""

    def forward(self, x, past_kv=None):
        q, k, v = self.qkv(x, past_kv)
        b, _, t, d = q.shape
        grouped = q.view(b, -1, self.num_kv_heads, t, d).transpose(1, 2)
        offset = k.shape[-2] - t
        future = torch.arange(k.shape[-2])[None, :] > torch.arange(t)[:, None] + offset
        scores = torch.einsum("bkgtd,bksd->bkgts", grouped, k) / math.sqrt(d)
        weights = scores.masked_fill(future, float("-inf")).softmax(-1)
        context = torch.einsum("bkgts,bksd->bkgtd", weights, v).transpose(1, 2).reshape(b, -1, t, d)
        return self.merge(context), (k, v)


class TopLeftCausalAttention(_Projections):
    """``is_causal=True`` with a cache: PyTorch aligns that mask to the top left, so new tokens
    only see the first cached positions."""

    def forward(self, x, past_kv=None):
        q, k, v = self.qkv(x, past_kv)
        return self.merge(F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)), (k, v)


class UnrotatedCacheAttention(_Projections):
    """Caches the keys before rotation and rotates the whole cache from position 0 at every
    call: the outputs are right, the cache is not what the contract returns."""

    def forward(self, x, past_kv=None):
        bsz, q_len, _ = x.shape
        k = self.k_proj(x).view(bsz, q_len, -1, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(bsz, q_len, -1, self.head_dim).transpose(1, 2)
        if past_kv is not None:
            k, v = torch.cat((past_kv[0], k), dim=2), torch.cat((past_kv[1], v), dim=2)
        past_len = k.shape[2] - q_len
        q = self.rotary_emb(self.q_proj(x).view(bsz, q_len, -1, self.head_dim).transpose(1, 2), past_len)
        mask = torch.ones(q_len, k.shape[2], dtype=torch.bool).tril(past_len)
        context = F.scaled_dot_product_attention(q, self.rotary_emb(k), v, attn_mask=mask, enable_gqa=True)
        return self.merge(context), (k, v)


@pytest.mark.parametrize(
    "broken",
    [StridedGroupsAttention, TopLeftCausalAttention, UnrotatedCacheAttention],
    ids=lambda c: c.__name__,
)
def test_hand_written_bugs_fail_the_suite(broken):
    impl = types.SimpleNamespace(GroupedQueryAttention=broken)
    failures = [check_property(prop, impl, seed=0) for prop in SUITE.properties]
    assert any(f is not None for f in failures), f"{broken.__name__} passed every property"
