"""Contract 17: ``llama_block.FeedForward`` and ``llama_block.TransformerBlock``.

The oracle is a block assembled from PyTorch parts with the implementation's weights copied in:
``nn.RMSNorm`` for both norms, contract 16's attention computed with
``scaled_dot_product_attention(enable_gqa=True)``, and ``w2(silu(w1(x)) * w3(x))`` written with
``F.linear``. Unlike the decoder's suite, the submodules are not trusted: contract 17 pins them.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.properties.gqa import attention_pass, check_pieces
from pytest_mlbugs.strategies.gqa import BlockCase, GQACase, block_cases
from pytest_mlbugs.strategies.tensors import generator, normal
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "llama_block",
    names=("FeedForward", "TransformerBlock"),
    contract="contract 17: FeedForward(d_model, hidden_dim), "
    "TransformerBlock(d_model, num_heads, num_kv_heads, hidden_dim, eps=1e-6), pre-norm SwiGLU",
)

RICH = BlockCase(
    GQACase(batch=2, num_kv_heads=2, group_size=2, half_dim=2, chunks=(3, 2), seed=1),
    hidden_dim=6,
    eps_exponent=1,
)
ATOL = 1e-5
RTOL = 1e-4
#: the block builds its attention with contract 16's default rotary base
DEFAULT_ROPE_BASE = 10000.0


def build(impl: Any, case: BlockCase, *, default_eps: bool = False) -> Any:
    """The block with distinct random norm weights: a norm used in place of the other, or one
    that is never applied, cannot hide behind the initial ones. With ``default_eps`` the block
    is built without ``eps``."""
    shape = case.attention
    torch.manual_seed(shape.seed)
    eps = {} if default_eps else {"eps": case.eps}
    module = impl.TransformerBlock(shape.d_model, shape.num_heads, shape.num_kv_heads, case.hidden_dim, **eps)
    gen = generator(shape.seed + 1)
    with torch.no_grad():
        for name in ("attention_norm", "ffn_norm"):
            getattr(module, name).weight.copy_(normal(gen, (shape.d_model,)) + 1.0)
    return devices.put(module).eval()


def swiglu(feed_forward: Any, x: torch.Tensor) -> torch.Tensor:
    """``w2(silu(w1(x)) * w3(x))`` with the weights of ``feed_forward``."""
    gate = F.silu(F.linear(x, feed_forward.w1.weight))
    return F.linear(gate * F.linear(x, feed_forward.w3.weight), feed_forward.w2.weight)


def rms_norm_like(norm: Any, eps: float) -> nn.RMSNorm:
    """``nn.RMSNorm`` holding ``norm``'s weight."""
    reference = devices.put(nn.RMSNorm(norm.weight.shape[0], eps=eps))
    with torch.no_grad():
        reference.weight.copy_(norm.weight)
    return reference


def expected_pass(module: Any, case: BlockCase, x: torch.Tensor) -> tuple[torch.Tensor, Any]:
    """Contract 17 on a full sequence, from PyTorch parts: ``(out, (k, v))``."""
    shape = case.attention
    normed = rms_norm_like(module.attention_norm, case.eps)(x)
    attended, cache = attention_pass(
        module.attention, normed, shape.num_heads, shape.num_kv_heads, rope_base=DEFAULT_ROPE_BASE
    )
    h = x + attended
    return h + swiglu(module.feed_forward, rms_norm_like(module.ffn_norm, case.eps)(h)), cache


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="the model trains worse than Llama's SwiGLU; a converted checkpoint gives garbage",
    cases=block_cases(max_chunks=1),
    explicit=[RICH],
    max_examples=3,
)
def feed_forward_is_swiglu(impl: Any, case: BlockCase) -> None:
    """FeedForward is not ``w2(silu(w1(x)) * w3(x))`` without biases: the SiLU gates the wrong
    branch, another activation is used, or a projection is missing or has a bias."""
    shape = case.attention
    torch.manual_seed(shape.seed)
    feed_forward = devices.put(impl.FeedForward(shape.d_model, case.hidden_dim))
    for name, size in (
        ("w1", (case.hidden_dim, shape.d_model)),
        ("w3", (case.hidden_dim, shape.d_model)),
        ("w2", (shape.d_model, case.hidden_dim)),
    ):
        linear = getattr(feed_forward, name)
        assert linear.bias is None, f"{name} has a bias"
        assert tuple(linear.weight.shape) == size, f"{name} has weight shape {tuple(linear.weight.shape)}"
    x = shape.make_input()
    with torch.no_grad():
        torch.testing.assert_close(feed_forward(x), swiglu(feed_forward, x), atol=ATOL, rtol=RTOL)


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="deep stacks train slowly or diverge; a Llama checkpoint loaded into the block gives garbage",
    cases=block_cases(max_chunks=1),
    explicit=[
        RICH,
        BlockCase(GQACase(batch=1, num_kv_heads=1, group_size=2, half_dim=2, chunks=(4,), seed=2), 4, 2),
    ],
    max_examples=4,
)
def matches_a_block_of_pytorch_parts(impl: Any, case: BlockCase) -> None:
    """With the same weights, the block differs from nn.RMSNorm, contract 16's attention and
    SwiGLU wired pre-norm (h = x + attention(attention_norm(x)), out = h + feed_forward(
    ffn_norm(h))): a norm is applied after the residual, reused for the other branch, or gets
    another eps; a residual is dropped; or the cache returned is not the attention's."""
    module = build(impl, case)
    x = case.attention.make_input()
    with torch.no_grad():
        out, cache = module(x)
        expected_out, expected_cache = expected_pass(module, case, x)
    assert out.shape == x.shape, f"output shape {tuple(out.shape)}, expected {tuple(x.shape)}"
    torch.testing.assert_close(out, expected_out, atol=ATOL, rtol=RTOL)
    for name, actual, wanted in zip(("k", "v"), cache, expected_cache, strict=True):
        assert tuple(actual.shape) == tuple(wanted.shape), f"cached {name} has shape {tuple(actual.shape)}"
        torch.testing.assert_close(actual, wanted, atol=ATOL, rtol=RTOL)


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="generation is garbage after the prompt although a full forward pass is fine",
    cases=block_cases(min_chunks=2),
    explicit=[RICH],
    max_examples=3,
)
def cached_and_full_passes_agree(impl: Any, case: BlockCase) -> None:
    """Feeding the sequence in pieces through past_kv gives other outputs than one full pass:
    the cache is not passed to the attention, or the block returns a stale one."""
    module = build(impl, case)
    x = case.attention.make_input()
    with torch.no_grad():
        expected = expected_pass(module, case, x)
    check_pieces(module, x, case.attention.chunks, expected)


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="RuntimeError: Expected all tensors to be on the same device, once moved to the GPU",
    cases=block_cases(max_chunks=1),
    explicit=[RICH],
    max_examples=1,
)
def follows_the_device(impl: Any, case: BlockCase) -> None:
    """On the meta device the block failed or produced a tensor elsewhere: something is created
    on a hard-coded device."""
    module = build(impl, case).to("meta")
    x = case.attention.make_input().to("meta")
    out, (k, v) = module(x)
    for name, tensor in (("output", out), ("cached k", k), ("cached v", v)):
        assert tensor.device.type == "meta", f"{name} on {tensor.device}"
    assert out.shape == x.shape, f"output shape {tuple(out.shape)}"


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="a Llama checkpoint loaded into the block drifts; small activations are scaled differently",
    cases=block_cases(max_chunks=1, min_eps_exponent=6),
    explicit=[
        BlockCase(GQACase(batch=1, num_kv_heads=1, group_size=2, half_dim=2, chunks=(3,), seed=7), 4, 6)
    ],
    max_examples=2,
)
def default_eps_is_one_millionth(impl: Any, case: BlockCase) -> None:
    """Built without ``eps``, the block is not the block of ``eps=1e-6`` on rows whose mean
    square is 1e-6, where another epsilon shows in the attention's norm: the default of ``eps``
    is not contract 17's (the cases have ``eps_exponent=6``, so the oracle uses 1e-6)."""
    module = build(impl, case, default_eps=True)
    x = case.attention.make_input()
    x = x / x.pow(2).mean(-1, keepdim=True).sqrt() * 1e-3  # every row at root mean square 1e-3
    with torch.no_grad():
        out, _ = module(x)
        expected, _ = expected_pass(module, case, x)
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=RTOL)
