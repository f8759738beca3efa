"""The positional-encoding reference against the closed form, and its suite against another
correct implementation."""

from __future__ import annotations

import math
import types

import pytest
import torch
from torch import nn

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.positional_encoding import SUITE
from pytest_mlbugs.reference_impls.positional_encoding import PositionalEncoding


def closed_form(max_len: int, d_model: int, *, start: int = 0) -> torch.Tensor:
    """Rows ``start .. max_len - 1`` of the paper's formula, one float64 entry at a time."""
    table = torch.zeros(max_len - start, d_model, dtype=torch.float64)
    for pos in range(start, max_len):
        for i in range(0, d_model, 2):
            angle = pos / 10000 ** (i / d_model)
            table[pos - start, i] = math.sin(angle)
            if i + 1 < d_model:
                table[pos - start, i + 1] = math.cos(angle)
    return table


@pytest.mark.parametrize(("d_model", "max_len"), [(8, 50), (6, 7), (5, 9)])
def test_table_is_the_closed_form(d_model, max_len):
    module = PositionalEncoding(d_model, max_len=max_len)
    expected = closed_form(max_len, d_model).float().unsqueeze(0)
    torch.testing.assert_close(module.pe, expected, atol=1e-5, rtol=0)


def test_far_positions_stay_within_the_pinned_tolerance():
    module = PositionalEncoding(16)
    expected = closed_form(5000, 16, start=4950).float()
    torch.testing.assert_close(module.pe[0, -50:], expected, atol=1e-3, rtol=0)


def test_forward_adds_the_table_and_the_table_is_a_buffer():
    module = PositionalEncoding(4, max_len=10)
    x = torch.randn(3, 6, 4)
    torch.testing.assert_close(module(x), x + module.pe[:, :6], atol=0, rtol=0)
    assert [name for name, _ in module.named_buffers()] == ["pe"]
    assert list(module.parameters()) == []


class EinsumPositionalEncoding(nn.Module):
    """Another correct style: the table built in float64 with einsum and interleaved by
    stacking, dropout through the functional API."""

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0) -> None:
        super().__init__()
        self.p = dropout
        inverse = torch.pow(10000.0, -torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
        angles = torch.einsum("p,f->pf", torch.arange(max_len, dtype=torch.float64), inverse)
        table = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)[:, :d_model]
        self.register_buffer("pe", table.float()[None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        return nn.functional.dropout(x + self.pe[:, :length, :], self.p, self.training)


@pytest.mark.parametrize("impl", ["reference", "einsum"])
@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_every_property_accepts_a_correct_implementation(prop, impl):
    module = types.SimpleNamespace(
        PositionalEncoding=PositionalEncoding if impl == "reference" else EinsumPositionalEncoding
    )
    assert check_property(prop, module, seed=0) is None
