"""Contract 12: the reference against torch's layer norm, and the suite against another style."""

from __future__ import annotations

import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.normalization import SUITE
from pytest_mlbugs.reference_impls import normalization as reference


@pytest.mark.parametrize("eps", [1e-5, 0.3])
def test_layernorm_matches_f_layer_norm_with_random_affine(eps):
    gen = torch.Generator().manual_seed(0)
    module = reference.LayerNorm(5, eps=eps)
    with torch.no_grad():
        module.weight.copy_(torch.randn(5, generator=gen))
        module.bias.copy_(torch.randn(5, generator=gen))
    x = torch.randn(2, 3, 5, generator=gen, dtype=torch.float32) * 4 + 1
    expected = F.layer_norm(x, (5,), module.weight, module.bias, eps)
    torch.testing.assert_close(module(x), expected, atol=1e-5, rtol=1e-5)


def test_layernorm_of_a_constant_row_is_its_bias():
    module = reference.LayerNorm(4)
    with torch.no_grad():
        module.bias.copy_(torch.tensor([1.0, -2.0, 3.0, 0.5]))
    torch.testing.assert_close(module(torch.full((1, 4), 7.0)), module.bias.detach().view(1, 4))


@pytest.mark.parametrize("was_training", [True, False])
def test_predict_is_the_eval_output_and_restores_the_mode(was_training):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(p=1.0)).train(was_training)
    x = torch.randn(4, 3)
    out = reference.predict(model, x)
    torch.testing.assert_close(out, F.linear(x, model[0].weight, model[0].bias).detach())
    assert not out.requires_grad
    assert model.training == was_training


class _VarMeanLayerNorm(nn.Module):
    """Another correct style: var_mean and rsqrt, parameters created from a shape tuple."""

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones((d_model,)))
        self.bias = nn.Parameter(torch.zeros((d_model,)))

    def forward(self, x):
        var, mean = torch.var_mean(x, dim=-1, keepdim=True, correction=0)
        return torch.addcmul(self.bias, (x - mean) * torch.rsqrt(var + self.eps), self.weight)


def _predict_restoring_every_submodule(model, x):
    modes = {module: module.training for module in model.modules()}
    model.eval()
    try:
        with torch.inference_mode():
            return model(x)
    finally:
        for module, mode in modes.items():
            module.training = mode


OTHER_STYLE = types.SimpleNamespace(LayerNorm=_VarMeanLayerNorm, predict=_predict_restoring_every_submodule)


@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_a_correct_implementation_in_another_style_passes(prop):
    assert check_property(prop, OTHER_STYLE, seed=0) is None


@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_the_reference_passes(prop):
    assert check_property(prop, reference, seed=1) is None


def test_predict_with_a_graph_fails():
    def with_graph(model, x):
        was_training = model.training
        model.eval()
        out = model(x)
        model.train(was_training)
        return out

    broken = types.SimpleNamespace(LayerNorm=_VarMeanLayerNorm, predict=with_graph)
    prop = next(p for p in SUITE.properties if p.name == "predict_runs_in_eval_mode_without_a_graph")
    assert check_property(prop, broken, seed=0) is not None
