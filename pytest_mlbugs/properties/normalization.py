"""Contract 12: ``normalization.LayerNorm`` and ``normalization.predict``."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.strategies.normalization import LayerNormCase, PredictCase, layernorm_cases, predict_cases
from pytest_mlbugs.strategies.tensors import generator, normal
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "normalization",
    names=("LayerNorm", "predict"),
    contract="contract 12: LayerNorm, predict",
)

RICH_NORM = LayerNormCase(batch=2, length=3, d_model=6, eps_exponent=1, seed=2)
RICH_PREDICT = PredictCase(batch=4, features=3, seed=5)
ATOL = 1e-5
RTOL = 1e-4
DEFAULT_EPS = 1e-5


def _randomized_pair(impl: Any, case: LayerNormCase) -> tuple[nn.Module, nn.LayerNorm]:
    """The implementation and nn.LayerNorm with the same random weight and bias: with the
    initial ones and zeros a swapped or missing affine step would not show."""
    if case.eps == DEFAULT_EPS:  # the default, which must be nn.LayerNorm's
        module = devices.put(impl.LayerNorm(case.d_model))
    else:
        module = devices.put(impl.LayerNorm(case.d_model, eps=case.eps))
    reference = devices.put(nn.LayerNorm(case.d_model, eps=case.eps))
    gen = generator(case.seed + 1)
    with torch.no_grad():
        for name in ("weight", "bias"):
            value = devices.put(normal(gen, (case.d_model,)))
            getattr(module, name).copy_(value)
            getattr(reference, name).copy_(value)
    return module, reference


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="loss falls more slowly than with nn.LayerNorm, or NaN on constant inputs",
    cases=layernorm_cases(),
    explicit=[RICH_NORM, LayerNormCase(batch=3, length=2, d_model=4, eps_exponent=5, seed=9)],
    max_examples=10,
)
def layernorm_matches_nn_layernorm(impl: Any, case: LayerNormCase) -> None:
    """With the same random weight and bias, the output or the gradients differ from
    nn.LayerNorm: the wrong axis, the unbiased variance, or epsilon outside the square root."""
    module, reference = _randomized_pair(impl, case)
    parameters = dict(module.named_parameters())
    for name in ("weight", "bias"):
        assert name in parameters, f"{name} is not a registered parameter"
        assert parameters[name].shape == (case.d_model,), f"{name} has shape {tuple(parameters[name].shape)}"
    x = case.make_input()
    x_actual, x_expected = x.clone().requires_grad_(), x.clone().requires_grad_()
    actual, expected = module(x_actual), reference(x_expected)
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=RTOL)
    upstream = devices.put(normal(generator(case.seed + 2), expected.shape))
    (actual * upstream).sum().backward()
    (expected * upstream).sum().backward()
    torch.testing.assert_close(x_actual.grad, x_expected.grad, atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(module.weight.grad, reference.weight.grad, atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(module.bias.grad, reference.bias.grad, atol=1e-4, rtol=1e-3)


@SUITE.property(
    layer=Layer.UPDATES,
    symptom="the loss does not move at first: every normalized layer starts by outputting its bias",
    cases=layernorm_cases(),
    explicit=[RICH_NORM],
    max_examples=3,
)
def layernorm_starts_as_nn_layernorm(impl: Any, case: LayerNormCase) -> None:
    """A freshly built LayerNorm is not nn.LayerNorm's start: its weight is not all ones or its
    bias not all zeros, so the first steps train a scaled-down (or shifted) network."""
    module = devices.put(impl.LayerNorm(case.d_model))
    parameters = dict(module.named_parameters())
    for name, start in (("weight", torch.ones), ("bias", torch.zeros)):
        assert name in parameters, f"{name} is not a registered parameter"
        expected = start(case.d_model, **devices.kwargs())
        torch.testing.assert_close(
            parameters[name].detach(),
            expected,
            atol=0.0,
            rtol=0.0,
            msg=f"{name} does not start at {expected}",
        )
    x = case.make_input()
    with torch.no_grad():
        torch.testing.assert_close(
            module(x), devices.put(nn.LayerNorm(case.d_model))(x), atol=ATOL, rtol=RTOL
        )


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="RuntimeError: Expected all tensors to be on the same device, once moved to the GPU",
    cases=layernorm_cases(max_d_model=6),
    max_examples=2,
)
def layernorm_follows_the_device(impl: Any, case: LayerNormCase) -> None:
    """Built under another default device (meta), LayerNorm's parameters or output landed
    elsewhere: a tensor is created on a hard-coded device."""
    with torch.device("meta"):
        module = impl.LayerNorm(case.d_model, eps=case.eps)
    for name, parameter in module.named_parameters():
        assert parameter.device.type == "meta", f"parameter {name} on {parameter.device}"
    output = module(case.make_input().to("meta"))
    assert output.device.type == "meta", f"output on {output.device}"
    assert output.shape == (case.batch, case.length, case.d_model), f"output shape {tuple(output.shape)}"


def _model_with_mode_dependent_layers(case: PredictCase) -> nn.Module:
    """Train mode shows at once: Dropout(p=1) zeroes everything, batch norm uses the batch
    statistics and moves its running statistics."""
    torch.manual_seed(case.seed)
    return devices.put(
        nn.Sequential(nn.Linear(case.features, 4), nn.BatchNorm1d(4), nn.Dropout(p=1.0), nn.Linear(4, 2))
    )


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="validation metrics are noisy and worse than training; memory grows during evaluation",
    cases=predict_cases(),
    explicit=[RICH_PREDICT],
    max_examples=4,
)
def predict_runs_in_eval_mode_without_a_graph(impl: Any, case: PredictCase) -> None:
    """predict's output differs from the model's eval-mode output (dropout or batch norm were
    still in training mode, running statistics moved) or it carries an autograd graph."""
    model = _model_with_mode_dependent_layers(case).train()
    expected_model = copy.deepcopy(model).eval()
    x = case.make_input()
    with torch.no_grad():
        expected = expected_model(x)
    actual = impl.predict(model, x)
    assert actual.grad_fn is None and not actual.requires_grad, "predict built an autograd graph"
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=RTOL)
    for name, buffer in expected_model.named_buffers():
        torch.testing.assert_close(
            model.get_buffer(name), buffer, atol=0, rtol=0, msg=f"predict changed the buffer {name}"
        )


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="training after a validation pass is worse: dropout silently switched off",
    cases=predict_cases(),
    explicit=[RICH_PREDICT],
    max_examples=3,
)
def predict_restores_the_previous_mode(impl: Any, case: PredictCase) -> None:
    """After predict the model is not in the train/eval mode it had before the call."""
    x = case.make_input()
    for was_training in (True, False):
        model = _model_with_mode_dependent_layers(case).train(was_training)
        impl.predict(model, x)
        assert model.training == was_training, (
            f"the model was in {'train' if was_training else 'eval'} mode before predict and "
            f"is in {'train' if model.training else 'eval'} mode after it"
        )
