"""The rotary-embedding reference against a closed formula, and the suite against other correct
styles (a table, angles on the fly, complex multiplication in the half-split layout) and
hand-written bugs that no mutator writes."""

from __future__ import annotations

import math
import types

import pytest
import torch
from torch import nn

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.rope import SUITE
from pytest_mlbugs.reference_impls import rope as reference


def closed_form(x: torch.Tensor, start_pos: int, base: float) -> torch.Tensor:
    """Feature by feature in float64: pair (j, j + D/2) turned by (start_pos + t) * base^(-2j/D)."""
    out = torch.empty_like(x, dtype=torch.float64)
    half = x.shape[-1] // 2
    for t in range(x.shape[-2]):
        for j in range(half):
            angle = (start_pos + t) * base ** (-2 * j / x.shape[-1])
            first, second = x[..., t, j].double(), x[..., t, j + half].double()
            out[..., t, j] = first * math.cos(angle) - second * math.sin(angle)
            out[..., t, j + half] = second * math.cos(angle) + first * math.sin(angle)
    return out


@pytest.mark.parametrize(("start_pos", "base"), [(0, 10000.0), (7, 10000.0), (3, 500.0)])
def test_reference_matches_the_closed_form(start_pos, base):
    torch.manual_seed(0)
    module = reference.RotaryEmbedding(8, max_seq_len=16, base=base)
    x = torch.randn(2, 3, 4, 8)
    actual = module(x, start_pos=start_pos)
    torch.testing.assert_close(actual.double(), closed_form(x, start_pos, base), atol=1e-5, rtol=1e-5)


def test_reference_refuses_positions_past_the_table_and_keeps_the_dtype():
    module = reference.RotaryEmbedding(4, max_seq_len=6)
    x = torch.randn(1, 1, 2, 4, dtype=torch.bfloat16)
    assert module(x, start_pos=4).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="max_seq_len=6"):
        module(x, start_pos=5)


def _table(head_dim: int, max_seq_len: int, base: float) -> torch.Tensor:
    """(S, D/2) float32 angles."""
    inv_freq = base ** -(torch.arange(0, head_dim, 2).float() / head_dim)
    return torch.arange(max_seq_len).float()[:, None] * inv_freq[None, :]


class OnTheFlyRotary(nn.Module):
    """A correct implementation in another style: angles computed at every call from the
    positions (Hugging Face's rotary module), the rotation done in the input's dtype; the
    tables are kept as the contract asks, built from the same angles."""

    def __init__(self, head_dim: int, max_seq_len: int = 2048, base: float = 10000.0) -> None:
        super().__init__()
        self.max_seq_len = max_seq_len
        self.register_buffer("inv_freq", base ** -(torch.arange(0, head_dim, 2).float() / head_dim), False)
        emb = _table(head_dim, max_seq_len, base).repeat(1, 2)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def forward(self, x, start_pos=0):
        seq_len = x.shape[2]
        if start_pos + seq_len > self.max_seq_len:
            raise ValueError("position out of range")
        position_ids = torch.arange(start_pos, start_pos + seq_len, device=x.device).float()
        freqs = position_ids[:, None] * self.inv_freq.float()[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        x1, x2 = x.chunk(2, dim=-1)
        return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class ComplexRotary(nn.Module):
    """A correct implementation in another style: the pair (j, j + D/2) as one complex number,
    multiplied by ``exp(i * angle)`` from a complex table (torch.polar)."""

    def __init__(self, head_dim: int, max_seq_len: int = 2048, base: float = 10000.0) -> None:
        super().__init__()
        angles = _table(head_dim, max_seq_len, base)
        self.register_buffer("freqs_cis", torch.polar(torch.ones_like(angles), angles), persistent=False)
        self.register_buffer("cos", angles.cos().repeat(1, 2), persistent=False)
        self.register_buffer("sin", angles.sin().repeat(1, 2), persistent=False)

    def forward(self, x, start_pos=0):
        end = start_pos + x.shape[-2]
        if end > self.freqs_cis.shape[0]:
            raise ValueError(f"end position {end} is past the table")
        wide = x.to(torch.promote_types(x.dtype, torch.float32))
        first, second = wide.chunk(2, dim=-1)
        turned = torch.complex(first, second) * self.freqs_cis[start_pos:end].to(
            torch.complex128 if wide.dtype == torch.float64 else torch.complex64
        )
        return torch.cat((turned.real, turned.imag), dim=-1).to(x.dtype)


ALTERNATIVES = {
    "reference": reference,
    "on_the_fly": types.SimpleNamespace(RotaryEmbedding=OnTheFlyRotary),
    "complex": types.SimpleNamespace(RotaryEmbedding=ComplexRotary),
}


@pytest.mark.parametrize("impl_name", sorted(ALTERNATIVES))
@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_every_correct_style_passes_every_property(impl_name, prop):
    assert check_property(prop, ALTERNATIVES[impl_name], seed=0) is None


class InterleavedRotary(reference.RotaryEmbedding):
    """Meta's original layout: pairs (2j, 2j + 1). A different contract, not a style of this one."""

    def forward(self, x, start_pos=0):
        end = start_pos + x.shape[-2]
        if end > self.max_seq_len:
            raise ValueError("out of range")
        cos = self.cos[start_pos:end, : x.shape[-1] // 2].repeat_interleave(2, dim=-1)
        sin = self.sin[start_pos:end, : x.shape[-1] // 2].repeat_interleave(2, dim=-1)
        rotated = torch.stack((-x[..., 1::2], x[..., 0::2]), dim=-1).flatten(-2)
        return (x * cos + rotated * sin).to(x.dtype)


class WrappingRotary(reference.RotaryEmbedding):
    """Positions past the table wrap around instead of raising."""

    def forward(self, x, start_pos=0):
        index = torch.arange(start_pos, start_pos + x.shape[-2], device=x.device) % self.max_seq_len
        return (x * self.cos[index] + reference.rotate_half(x) * self.sin[index]).to(x.dtype)


class HalfPrecisionTableRotary(reference.RotaryEmbedding):
    """The tables rounded to the input's dtype before use, at the positions themselves: a
    bfloat16 position above 256 is not an integer any more."""

    def __init__(self, head_dim: int, max_seq_len: int = 2048, base: float = 10000.0) -> None:
        super().__init__(head_dim, max_seq_len, base)
        self.base = base

    def forward(self, x, start_pos=0):
        end = start_pos + x.shape[-2]
        if end > self.max_seq_len:
            raise ValueError("out of range")
        positions = torch.arange(start_pos, end, device=x.device).to(x.dtype)
        inv_freq = (1.0 / self.base ** (torch.arange(0, x.shape[-1], 2, device=x.device) / x.shape[-1])).to(
            x.dtype
        )
        angles = torch.outer(positions, inv_freq).repeat(1, 2)
        return x * angles.cos() + reference.rotate_half(x) * angles.sin()


@pytest.mark.parametrize(
    "broken", [InterleavedRotary, WrappingRotary, HalfPrecisionTableRotary], ids=lambda c: c.__name__
)
def test_hand_written_bugs_fail_the_suite(broken):
    impl = types.SimpleNamespace(RotaryEmbedding=broken)
    failures = [check_property(prop, impl, seed=0) for prop in SUITE.properties]
    assert any(f is not None for f in failures), f"{broken.__name__} passed every property"
