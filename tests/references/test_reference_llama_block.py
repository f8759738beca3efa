"""The Llama block reference against a closed formula, and the suite against other correct
styles (litgpt's and Hugging Face's wiring, nn.RMSNorm as the norms) and hand-written bugs that
no mutator writes."""

from __future__ import annotations

import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.llama_block import SUITE
from pytest_mlbugs.reference_impls import llama_block as reference
from pytest_mlbugs.reference_impls.gqa import GroupedQueryAttention


def rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def test_reference_matches_the_closed_form():
    torch.manual_seed(0)
    block = reference.TransformerBlock(8, 4, 2, 12, eps=0.01)
    with torch.no_grad():
        block.attention_norm.weight.normal_()
        block.ffn_norm.weight.normal_()
    x = torch.randn(2, 5, 8)
    with torch.no_grad():
        out, (k, v) = block(x)
        h = x + block.attention(rms(x, block.attention_norm.weight, 0.01))[0]
        normed = rms(h, block.ffn_norm.weight, 0.01)
        ffn = block.feed_forward
        gate = normed @ ffn.w1.weight.T
        swish = gate * torch.sigmoid(gate)  # silu, written out
        expected = h + (swish * (normed @ ffn.w3.weight.T)) @ ffn.w2.weight.T
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    assert k.shape == v.shape == (2, 2, 5, 2)


class LitFeedForward(nn.Module):
    """litgpt's LLaMAMLP: named intermediate branches."""

    def __init__(self, d_model: int, hidden_dim: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(d_model, hidden_dim, bias=False)
        self.w3 = nn.Linear(d_model, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, d_model, bias=False)

    def forward(self, x):
        x_fc_1 = self.w1(x)
        x_fc_2 = self.w3(x)
        x = torch.nn.functional.silu(x_fc_1) * x_fc_2
        return self.w2(x)


class LitBlock(nn.Module):
    """A correct implementation in another style: litgpt's wiring, nn.RMSNorm as both norms."""

    def __init__(self, d_model, num_heads, num_kv_heads, hidden_dim, eps=1e-6):
        super().__init__()
        self.attention_norm = nn.RMSNorm(d_model, eps=eps)
        self.attention = GroupedQueryAttention(d_model, num_heads, num_kv_heads)
        self.ffn_norm = nn.RMSNorm(d_model, eps=eps)
        self.feed_forward = LitFeedForward(d_model, hidden_dim)

    def forward(self, x, past_kv=None):
        x_normed = self.attention_norm(x)
        attention_output, kv = self.attention(x_normed, past_kv)
        x = attention_output + x
        x = self.feed_forward(self.ffn_norm(x)) + x
        return x, kv


class HFFeedForward(nn.Module):
    """Hugging Face's LlamaMLP: the activation as a module."""

    def __init__(self, d_model: int, hidden_dim: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(d_model, hidden_dim, bias=False)
        self.w2 = nn.Linear(hidden_dim, d_model, bias=False)
        self.w3 = nn.Linear(d_model, hidden_dim, bias=False)
        self.act_fn = nn.SiLU()

    def forward(self, x):
        return self.w2(self.act_fn(self.w1(x)) * self.w3(x))


class HFBlock(LitBlock):
    """A correct implementation in another style: Hugging Face's decoder layer with a named
    residual, the contract's RMSNorm reference as the norms."""

    def __init__(self, d_model, num_heads, num_kv_heads, hidden_dim, eps=1e-6):
        super().__init__(d_model, num_heads, num_kv_heads, hidden_dim, eps)
        self.attention_norm = reference.RMSNorm(d_model, eps=eps)
        self.ffn_norm = reference.RMSNorm(d_model, eps=eps)
        self.feed_forward = HFFeedForward(d_model, hidden_dim)

    def forward(self, hidden_states, past_kv=None):
        residual = hidden_states
        hidden_states = self.attention_norm(hidden_states)
        hidden_states, present_key_value = self.attention(hidden_states, past_kv=past_kv)
        hidden_states = residual + hidden_states
        residual = hidden_states
        hidden_states = self.ffn_norm(hidden_states)
        hidden_states = self.feed_forward(hidden_states)
        return residual + hidden_states, present_key_value


ALTERNATIVES = {
    "reference": reference,
    "litgpt": types.SimpleNamespace(FeedForward=LitFeedForward, TransformerBlock=LitBlock),
    "hugging_face": types.SimpleNamespace(FeedForward=HFFeedForward, TransformerBlock=HFBlock),
}


@pytest.mark.parametrize("impl_name", sorted(ALTERNATIVES))
@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_every_correct_style_passes_every_property(impl_name, prop):
    assert check_property(prop, ALTERNATIVES[impl_name], seed=0) is None


class ParallelBlock(LitBlock):
    """GPT-J/NeoX's parallel residual: both branches read the block's input."""

    def forward(self, x, past_kv=None):
        attended, kv = self.attention(self.attention_norm(x), past_kv)
        return x + attended + self.feed_forward(self.ffn_norm(x)), kv


class StaleCacheBlock(LitBlock):
    """Returns the cache it was given instead of the attention's new one."""

    def forward(self, x, past_kv=None):
        out, kv = super().forward(x, past_kv)
        return out, kv if past_kv is None else past_kv


class SquaredReluFeedForward(LitFeedForward):
    """A ReLU² gate (Primer) where the contract pins SiLU."""

    def forward(self, x):
        return self.w2(F.relu(self.w1(x)).square() * self.w3(x))


@pytest.mark.parametrize(
    "broken",
    [
        types.SimpleNamespace(FeedForward=LitFeedForward, TransformerBlock=ParallelBlock),
        types.SimpleNamespace(FeedForward=LitFeedForward, TransformerBlock=StaleCacheBlock),
        types.SimpleNamespace(FeedForward=SquaredReluFeedForward, TransformerBlock=LitBlock),
    ],
    ids=["parallel_residual", "stale_cache", "squared_relu"],
)
def test_hand_written_bugs_fail_the_suite(broken):
    failures = [check_property(prop, broken, seed=0) for prop in SUITE.properties]
    assert any(f is not None for f in failures), "a broken block passed every property"
