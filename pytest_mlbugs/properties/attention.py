"""Contract 1: ``attention.MultiHeadAttention``."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.strategies.attention import AttentionCase, attention_cases
from pytest_mlbugs.strategies.tensors import generator, normal
from pytest_mlbugs.suite import Suite, require

SUITE = Suite("attention", names=("MultiHeadAttention",), contract="contract 1: MultiHeadAttention")

RICH = AttentionCase(batch=2, q_len=3, kv_len=5, num_heads=2, head_dim=4, mask="full", seed=1)
ATOL = 1e-5
RTOL = 1e-4


def build(impl: Any, case: AttentionCase, *, dropout: float | None = None) -> Any:
    """The module with ``dropout``, or with the contract's default (0) when it is ``None``."""
    torch.manual_seed(case.seed)
    if dropout is None:
        module = impl.MultiHeadAttention(case.d_model, case.num_heads)
    else:
        module = impl.MultiHeadAttention(case.d_model, case.num_heads, dropout=dropout)
    with torch.no_grad():  # non-zero biases, so that swapped projections cannot hide
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            projection = getattr(module, name)
            require(
                isinstance(projection, nn.Linear), f"{name} is a {type(projection).__name__}, not a Linear"
            )
            require(projection.bias is not None, f"{name} has no bias: contract 1 gives each projection one")
            projection.bias.normal_()
    return devices.put(module)


def inputs(case: AttentionCase) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = generator(case.seed)
    query = normal(gen, (case.batch, case.q_len, case.d_model))
    key = normal(gen, (case.batch, case.kv_len, case.d_model))
    value = normal(gen, (case.batch, case.kv_len, case.d_model))
    return devices.put(query), devices.put(key), devices.put(value)


def expected_output(module: Any, case: AttentionCase, query, key, value, mask) -> torch.Tensor:
    """The contract computed with PyTorch's own scaled_dot_product_attention."""

    def heads(x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, case.num_heads, case.head_dim).transpose(1, 2)

    q = heads(F.linear(query, module.q_proj.weight, module.q_proj.bias))
    k = heads(F.linear(key, module.k_proj.weight, module.k_proj.bias))
    v = heads(F.linear(value, module.v_proj.weight, module.v_proj.bias))
    context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    context = context.transpose(1, 2).reshape(case.batch, case.q_len, case.d_model)
    return F.linear(context, module.out_proj.weight, module.out_proj.bias)


def copy_into_nn_multihead_attention(target: nn.MultiheadAttention, source: Any) -> None:
    """Load a contract-1 module's projections into ``nn.MultiheadAttention``'s packed weights."""
    with torch.no_grad():
        target.in_proj_weight.copy_(
            torch.cat([source.q_proj.weight, source.k_proj.weight, source.v_proj.weight])
        )
        target.in_proj_bias.copy_(torch.cat([source.q_proj.bias, source.k_proj.bias, source.v_proj.bias]))
        target.out_proj.weight.copy_(source.out_proj.weight)
        target.out_proj.bias.copy_(source.out_proj.bias)


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="loss plateaus early or the model attends to padding and the future",
    cases=attention_cases(),
    # Equal lengths and no mask first: there a head split without transpose broadcasts
    # silently instead of failing on shapes, and only the values give it away.
    explicit=[AttentionCase(batch=2, q_len=4, kv_len=4, num_heads=2, head_dim=3, mask="none", seed=2), RICH],
)
def matches_scaled_dot_product_attention(impl: Any, case: AttentionCase) -> None:
    """The output differs from torch's scaled_dot_product_attention on the same projections:
    the scaling, the softmax axis, the mask polarity, the head split or the projections are off."""
    module = build(impl, case).eval()
    query, key, value = inputs(case)
    mask = case.make_mask()
    with torch.no_grad():
        actual = module(query, key, value, mask=mask)
        expected = expected_output(module, case, query, key, value, mask)
    assert actual.shape == (case.batch, case.q_len, case.d_model), f"output shape {tuple(actual.shape)}"
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=RTOL)


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="results change when the same weights are loaded into nn.MultiheadAttention",
    cases=attention_cases(masks=("none", "keys")),
    explicit=[AttentionCase(batch=2, q_len=4, kv_len=3, num_heads=4, head_dim=2, mask="keys", seed=3)],
)
def matches_nn_multihead_attention(impl: Any, case: AttentionCase) -> None:
    """With its weights copied into nn.MultiheadAttention (whose masks mean the opposite:
    True = blocked), the module computes something else, in training mode too: the default
    dropout is 0."""
    module = build(impl, case).train()
    reference = devices.put(nn.MultiheadAttention(case.d_model, case.num_heads, batch_first=True).train())
    copy_into_nn_multihead_attention(reference, module)
    query, key, value = inputs(case)
    mask = case.make_mask()
    key_padding_mask = None if mask is None else ~mask.view(case.batch, case.kv_len)
    with torch.no_grad():
        actual = module(query, key, value, mask=mask)
        expected, _ = reference(query, key, value, key_padding_mask=key_padding_mask, need_weights=False)
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=RTOL)


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="training loss is suspiciously low, generation is garbage: the model reads the future",
    cases=attention_cases(masks=("none",)),
    explicit=[AttentionCase(batch=1, q_len=5, kv_len=5, num_heads=2, head_dim=3, mask="none", seed=5)],
)
def causal_mask_hides_the_future(impl: Any, case: AttentionCase) -> None:
    """With a causal mask, changing tokens after position t changed the output at t."""
    length = case.q_len
    module = build(impl, case).eval()
    gen = generator(case.seed)
    x = devices.put(normal(gen, (case.batch, length, case.d_model)))
    causal = torch.tril(torch.ones(length, length, dtype=torch.bool, **devices.kwargs()))
    cut = length // 2
    changed = x.clone()
    changed[:, cut + 1 :] = devices.put(normal(gen, changed[:, cut + 1 :].shape))
    with torch.no_grad():
        before = module(x, x, x, mask=causal)[:, : cut + 1]
        after = module(changed, changed, changed, mask=causal)[:, : cut + 1]
    torch.testing.assert_close(after, before, atol=ATOL, rtol=RTOL)


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="validation metrics jump from run to run although nothing changed",
    cases=attention_cases(masks=("none",), max_len=4),
)
def eval_mode_is_deterministic_with_dropout(impl: Any, case: AttentionCase) -> None:
    """In eval mode, dropout on the attention weights still changed the output."""
    module = build(impl, case, dropout=0.5).eval()
    query, key, value = inputs(case)
    with torch.no_grad():
        first = module(query, key, value)
        second = module(query, key, value)
        expected = expected_output(module, case, query, key, value, None)
    torch.testing.assert_close(first, second, atol=0.0, rtol=0.0)
    torch.testing.assert_close(first, expected, atol=ATOL, rtol=RTOL)


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="RuntimeError: Expected all tensors to be on the same device, once moved to the GPU",
    cases=attention_cases(max_len=4),
    max_examples=3,
)
def output_follows_the_input_device(impl: Any, case: AttentionCase) -> None:
    """On the meta device the module failed or produced a tensor elsewhere: something is
    created on a hard-coded device or with the wrong shape."""
    module = build(impl, case).to("meta")
    query, key, value = (t.to("meta") for t in inputs(case))
    mask = case.make_mask()
    output = module(query, key, value, mask=None if mask is None else mask.to("meta"))
    assert output.device.type == "meta", f"output on {output.device}"
    assert output.shape == (case.batch, case.q_len, case.d_model), f"output shape {tuple(output.shape)}"
