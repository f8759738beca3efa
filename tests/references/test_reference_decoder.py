"""The decoder reference against nn.TransformerDecoderLayer, and the suite against another style."""

from __future__ import annotations

import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.decoder import SUITE
from pytest_mlbugs.reference_impls import decoder as reference
from pytest_mlbugs.reference_impls.attention import MultiHeadAttention

D_MODEL, HEADS, D_FF = 8, 2, 12


def _copy_attention(target: nn.MultiheadAttention, source: nn.Module) -> None:
    target.in_proj_weight.copy_(torch.cat([source.q_proj.weight, source.k_proj.weight, source.v_proj.weight]))
    target.in_proj_bias.copy_(torch.cat([source.q_proj.bias, source.k_proj.bias, source.v_proj.bias]))
    target.out_proj.load_state_dict(source.out_proj.state_dict())


def torch_layer_with_weights_of(layer: nn.Module) -> nn.TransformerDecoderLayer:
    """An independent copy: every weight of the reference copied into PyTorch's own layer."""
    torch_layer = nn.TransformerDecoderLayer(
        D_MODEL, HEADS, dim_feedforward=D_FF, dropout=0.0, batch_first=True, norm_first=True
    ).eval()
    with torch.no_grad():
        _copy_attention(torch_layer.self_attn, layer.self_attn)
        _copy_attention(torch_layer.multihead_attn, layer.cross_attn)
        torch_layer.linear1.load_state_dict(layer.ffn[0].state_dict())
        torch_layer.linear2.load_state_dict(layer.ffn[3].state_dict())
        for name in ("norm1", "norm2", "norm3"):
            getattr(torch_layer, name).load_state_dict(getattr(layer, name).state_dict())
    return torch_layer


@pytest.mark.parametrize("tgt_len,src_len", [(4, 6), (5, 5), (1, 3)])
def test_reference_matches_torch_pre_norm_decoder_layer(tgt_len, src_len):
    torch.manual_seed(0)
    layer = reference.TransformerDecoderLayer(D_MODEL, HEADS, D_FF).eval()
    with torch.no_grad():
        for parameter in layer.parameters():
            if parameter.dim() == 1:
                parameter.normal_()
    x, memory = torch.randn(2, tgt_len, D_MODEL), torch.randn(2, src_len, D_MODEL)
    causal = torch.tril(torch.ones(tgt_len, tgt_len, dtype=torch.bool))
    source_kept = torch.rand(2, 1, 1, src_len) < 0.6
    source_kept[..., 0] = True
    with torch.no_grad():
        actual = layer(x, memory, self_attn_mask=causal, cross_attn_mask=source_kept)
        expected = torch_layer_with_weights_of(layer)(
            x, memory, tgt_mask=~causal, memory_key_padding_mask=~source_kept.view(2, src_len)
        )
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_full_dropout_in_training_returns_the_input():
    torch.manual_seed(0)
    layer = reference.TransformerDecoderLayer(D_MODEL, HEADS, D_FF, dropout=1.0).train()
    x, memory = torch.randn(2, 3, D_MODEL), torch.randn(2, 4, D_MODEL)
    torch.testing.assert_close(layer(x, memory), x, atol=0.0, rtol=0.0)


class HandLayerNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.gain, self.shift, self.eps = (
            nn.Parameter(torch.ones(d_model)),
            nn.Parameter(torch.zeros(d_model)),
            eps,
        )

    def forward(self, x):
        centered = x - x.mean(-1, keepdim=True)
        return (
            centered / torch.sqrt(centered.pow(2).mean(-1, keepdim=True) + self.eps) * self.gain + self.shift
        )


class GeluMLP(nn.Module):
    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.up, self.down = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)

    def forward(self, x):
        return self.down(F.gelu(self.up(x)))


class FunctionalDecoderLayer(nn.Module):
    """A correct layer in another style: GELU MLP, hand-written norms, functional dropout,
    ``+=`` residuals and the mask passed positionally."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.p = dropout
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.ffn = GeluMLP(d_model, d_ff)
        self.norm1, self.norm2, self.norm3 = (HandLayerNorm(d_model) for _ in range(3))

    def forward(self, x, encoder_output, self_attn_mask=None, cross_attn_mask=None):
        drop = lambda t: F.dropout(t, self.p, self.training)  # noqa: E731
        q = self.norm1(x)
        x = x + drop(self.self_attn(q, q, q, self_attn_mask))
        x = x + drop(self.cross_attn(self.norm2(x), encoder_output, encoder_output, cross_attn_mask))
        x += drop(self.ffn(self.norm3(x)))
        return x


ALTERNATIVES = {
    "reference": reference,
    "functional": types.SimpleNamespace(TransformerDecoderLayer=FunctionalDecoderLayer),
}


@pytest.mark.parametrize("impl_name", sorted(ALTERNATIVES))
@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_every_correct_style_passes_every_property(impl_name, prop):
    assert check_property(prop, ALTERNATIVES[impl_name], seed=0) is None


class PostNormDecoderLayer(FunctionalDecoderLayer):
    def forward(self, x, encoder_output, self_attn_mask=None, cross_attn_mask=None):
        x = self.norm1(x + self.self_attn(x, x, x, self_attn_mask))
        x = self.norm2(x + self.cross_attn(x, encoder_output, encoder_output, cross_attn_mask))
        return self.norm3(x + self.ffn(x))


def test_a_post_norm_layer_fails_the_first_property():
    broken = types.SimpleNamespace(TransformerDecoderLayer=PostNormDecoderLayer)
    failure = check_property(SUITE.properties[0], broken, seed=0)
    assert failure is not None and "not close" in failure.message
