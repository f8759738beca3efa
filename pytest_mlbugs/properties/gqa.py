"""Contract 16: ``gqa.GroupedQueryAttention``.

The oracle is ``scaled_dot_product_attention(..., is_causal=True, enable_gqa=True)`` on the
implementation's own projections, with queries and keys rotated by contract 15's closed form.
The invariants that matter for decoding come next: a sequence fed in pieces through ``past_kv``
(pieces of several tokens, not only one) gives the outputs of one full pass, and the cache holds
``num_kv_heads`` heads of rotated keys.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.properties.rope import DEFAULT_MAX_SEQ_LEN, float32_atol, rotate_closed_form
from pytest_mlbugs.strategies.gqa import GQACase, gqa_cases
from pytest_mlbugs.strategies.tensors import generator, normal
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "gqa",
    names=("GroupedQueryAttention",),
    contract="contract 16: GroupedQueryAttention(d_model, num_heads, num_kv_heads, max_seq_len=2048, "
    "rope_base=10000.0)",
)

#: two groups of two query heads: a repeat where repeat_interleave belongs mixes them up
RICH = GQACase(batch=2, num_kv_heads=2, group_size=2, half_dim=3, chunks=(3, 2, 1), seed=1)
ATOL = 1e-5
RTOL = 1e-4
#: a base other than the default, so that the argument is seen to reach the rotation
ROPE_BASE = 500.0
#: a ``max_seq_len`` above the default: the argument must reach the rotation's table
LONGER_BY = 512


def build(impl: Any, case: GQACase) -> Any:
    torch.manual_seed(case.seed)
    module = impl.GroupedQueryAttention(case.d_model, case.num_heads, case.num_kv_heads, rope_base=ROPE_BASE)
    return devices.put(module).eval()


def rotated(x: torch.Tensor, base: float) -> torch.Tensor:
    """``x`` (B, heads, T, hd) rotated as positions ``0..T-1`` by the closed form, in x's dtype."""
    return devices.put(rotate_closed_form(x, torch.arange(x.shape[2]), base).to(x.dtype))


def attention_pass(
    attention: Any, x: torch.Tensor, num_heads: int, num_kv_heads: int, *, rope_base: float
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """Contract 16 on a full sequence from position 0, with PyTorch's own functions and the
    projections of ``attention``: ``(out, (k, v))``."""
    batch, length, _ = x.shape
    head_dim = attention.q_proj.weight.shape[0] // num_heads

    def heads(projection: Any, count: int) -> torch.Tensor:
        return F.linear(x, projection.weight).view(batch, length, count, head_dim).transpose(1, 2)

    q = rotated(heads(attention.q_proj, num_heads), rope_base)
    k = rotated(heads(attention.k_proj, num_kv_heads), rope_base)
    v = heads(attention.v_proj, num_kv_heads)
    context = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    context = context.transpose(1, 2).reshape(batch, length, num_heads * head_dim)
    return F.linear(context, attention.o_proj.weight), (k, v)


def expected_pass(
    module: Any, case: GQACase, x: torch.Tensor
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    return attention_pass(module, x, case.num_heads, case.num_kv_heads, rope_base=ROPE_BASE)


def prefixed(what: str) -> Callable[[str], str]:
    """A ``msg`` for ``assert_close`` that says where the mismatch is."""

    def message(detail: str) -> str:
        return f"{what}: {detail}"

    return message


def assert_cache(cache: Any, expected: tuple[torch.Tensor, torch.Tensor], what: str) -> None:
    """``cache`` is ``(k, v)`` equal to the expected rotated keys and values, kv heads only."""
    assert isinstance(cache, tuple) and len(cache) == 2, f"{what}: the cache is not a (k, v) tuple"
    for name, actual, wanted in zip(("k", "v"), cache, expected, strict=True):
        assert tuple(actual.shape) == tuple(wanted.shape), (
            f"{what}: cached {name} has shape {tuple(actual.shape)}, expected {tuple(wanted.shape)} "
            "(B, num_kv_heads, positions, head_dim)"
        )
        torch.testing.assert_close(
            actual, wanted, atol=ATOL, rtol=RTOL, msg=prefixed(f"{what}, cached {name}")
        )


def run_in_pieces(module: Any, x: torch.Tensor, chunks: tuple[int, ...]) -> tuple[list[torch.Tensor], Any]:
    """Feed ``x`` chunk by chunk, each call given the cache the previous one returned."""
    outputs, cache, start = [], None, 0
    with torch.no_grad():
        for length in chunks:
            out, cache = module(x[:, start : start + length], past_kv=cache)
            outputs.append(out)
            start += length
    return outputs, cache


def check_pieces(module: Any, x: torch.Tensor, chunks: tuple[int, ...], expected: Any) -> None:
    """Each piece's output equals its rows of the full pass, and the last cache the full keys."""
    full_out, full_cache = expected
    outputs, cache = run_in_pieces(module, x, chunks)
    start = 0
    for number, (out, length) in enumerate(zip(outputs, chunks, strict=True)):
        wanted = full_out[:, start : start + length]
        assert out.shape == wanted.shape, f"piece {number}: output shape {tuple(out.shape)}"
        where = f"piece {number} (positions {start}..{start + length - 1}, after {start} cached)"
        torch.testing.assert_close(out, wanted, atol=ATOL, rtol=RTOL, msg=prefixed(where))
        start += length
    assert_cache(cache, full_cache, f"after pieces {chunks}")


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="the model trains worse than a reference Llama; pretrained weights give garbage",
    cases=gqa_cases(max_chunks=1),
    explicit=[
        GQACase(batch=2, num_kv_heads=2, group_size=2, half_dim=3, chunks=(5,), seed=1),
        GQACase(batch=1, num_kv_heads=1, group_size=3, half_dim=2, chunks=(3,), seed=2),
    ],
    max_examples=6,
)
def matches_sdpa_with_enable_gqa(impl: Any, case: GQACase) -> None:
    """One pass differs from scaled_dot_product_attention(enable_gqa=True) on the same
    projections and rotations, or its cache is not the rotated keys and the values with
    num_kv_heads heads: the scaling, the softmax axis, the causal mask, the grouping of query
    heads (query head h reads key/value head h // group) or the head split is off."""
    module = build(impl, case)
    for name, out_features in (
        ("q_proj", case.d_model),
        ("k_proj", case.num_kv_heads * case.head_dim),
        ("v_proj", case.num_kv_heads * case.head_dim),
        ("o_proj", case.d_model),
    ):
        projection = getattr(module, name)
        assert projection.bias is None, f"{name} has a bias"
        assert projection.weight.shape[0] == out_features, f"{name} has {projection.weight.shape[0]} outputs"
    x = case.make_input()
    with torch.no_grad():
        out, cache = module(x)
        expected_out, expected_cache = expected_pass(module, case, x)
    assert out.shape == x.shape, f"output shape {tuple(out.shape)}, expected {tuple(x.shape)}"
    torch.testing.assert_close(out, expected_out, atol=ATOL, rtol=RTOL)
    assert_cache(cache, expected_cache, "one pass")


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="generation is garbage after the prompt although a full forward pass is fine",
    cases=gqa_cases(min_chunks=2, min_first_chunk=2),
    explicit=[RICH, GQACase(batch=1, num_kv_heads=1, group_size=2, half_dim=2, chunks=(2, 3), seed=3)],
    max_examples=5,
)
def pieces_through_past_kv_equal_one_pass(impl: Any, case: GQACase) -> None:
    """Feeding the sequence in pieces through past_kv (pieces of several tokens too) gives
    other outputs than one full pass, or another cache: new keys are not rotated at their
    cached positions, the cache is extended on the wrong axis or stored after the heads are
    repeated, or several new tokens see each other's future."""
    module = build(impl, case)
    x = case.make_input()
    with torch.no_grad():
        expected = expected_pass(module, case, x)
    check_pieces(module, x, case.chunks, expected)


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="a checkpoint converted from multi-head attention computes something else",
    cases=gqa_cases(max_group_size=1, min_kv_heads=2, max_chunks=1),
    explicit=[GQACase(batch=2, num_kv_heads=3, group_size=1, half_dim=2, chunks=(4,), seed=4)],
    max_examples=2,
)
def equal_head_counts_are_multi_head_attention(impl: Any, case: GQACase) -> None:
    """With num_kv_heads == num_heads the module is not ordinary causal multi-head attention
    (scaled_dot_product_attention without grouping) on the rotated projections."""
    module = build(impl, case)
    x = case.make_input()
    batch, length, _ = x.shape

    def heads(projection: Any) -> torch.Tensor:
        return (
            F.linear(x, projection.weight).view(batch, length, case.num_heads, case.head_dim).transpose(1, 2)
        )

    with torch.no_grad():
        out, _ = module(x)
        q, k = rotated(heads(module.q_proj), ROPE_BASE), rotated(heads(module.k_proj), ROPE_BASE)
        context = F.scaled_dot_product_attention(q, k, heads(module.v_proj), is_causal=True)
        expected = F.linear(
            context.transpose(1, 2).reshape(batch, length, case.d_model), module.o_proj.weight
        )
    torch.testing.assert_close(out, expected, atol=ATOL, rtol=RTOL)


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="RuntimeError: Expected all tensors to be on the same device, once moved to the GPU",
    cases=gqa_cases(min_chunks=2, max_chunks=2, min_first_chunk=2, max_chunk=2),
    explicit=[GQACase(batch=1, num_kv_heads=2, group_size=2, half_dim=2, chunks=(2, 2), seed=5)],
    max_examples=1,
)
def follows_the_device(impl: Any, case: GQACase) -> None:
    """On the meta device, with and without a cache, the module failed or produced a tensor
    elsewhere: a mask or a table is created on a hard-coded device."""
    module = build(impl, case).to("meta")
    x = case.make_input().to("meta")
    _, cache = module(x[:, : case.chunks[0]])
    out, (k, v) = module(x[:, case.chunks[0] :], past_kv=cache)
    for name, tensor in (("output", out), ("cached k", k), ("cached v", v)):
        assert tensor.device.type == "meta", f"{name} on {tensor.device}"
    assert out.shape == (case.batch, case.chunks[1], case.d_model), f"output shape {tuple(out.shape)}"


def new_keys_at(module: Any, case: GQACase, past_len: int, *, base: float) -> None:
    """One call at positions ``past_len..past_len + T - 1`` after a random cache: the keys it
    appends are the closed-form rotation of its projections at those positions."""
    x = case.make_input()
    gen = generator(case.seed + 1)
    past = tuple(
        devices.put(normal(gen, (case.batch, case.num_kv_heads, past_len, case.head_dim))) for _ in range(2)
    )
    with torch.no_grad():
        out, (k, _) = module(x, past_kv=past)
        projected = F.linear(x, module.k_proj.weight)
    assert out.shape == x.shape, f"output shape {tuple(out.shape)}, expected {tuple(x.shape)}"
    heads = projected.view(case.batch, case.seq_len, case.num_kv_heads, case.head_dim).transpose(1, 2)
    end = past_len + case.seq_len
    expected = rotate_closed_form(heads, torch.arange(past_len, end), base).to(torch.float32)
    torch.testing.assert_close(
        k[:, :, past_len:],
        devices.put(expected),
        atol=float32_atol(end, heads),
        rtol=0,
        msg=prefixed(f"keys at positions {past_len}..{end - 1}, rotated with base {base}"),
    )


def refuses_past(module: Any, case: GQACase, past_len: int, max_seq_len: int) -> None:
    """A call whose last position is ``max_seq_len`` raises ValueError."""
    past = devices.put(torch.zeros(case.batch, case.num_kv_heads, past_len, case.head_dim))
    try:
        with torch.no_grad():
            module(case.make_input(), past_kv=(past, past))
    except ValueError:
        return
    raise AssertionError(
        f"position {past_len + case.seq_len - 1} was accepted with max_seq_len={max_seq_len}"
    )


@SUITE.property(
    layer=Layer.DATA,
    symptom="long prompts crash although max_seq_len allows them, or degrade far from the start",
    cases=gqa_cases(max_chunks=1, max_batch=1),
    explicit=[GQACase(batch=1, num_kv_heads=2, group_size=2, half_dim=2, chunks=(3,), seed=6)],
    max_examples=2,
)
def positions_reach_max_seq_len(impl: Any, case: GQACase) -> None:
    """Up to position ``max_seq_len - 1`` the new keys are not rotated as the closed form
    rotates them, or position ``max_seq_len`` is accepted: ``max_seq_len`` (above the default
    too) does not reach the rotation, or a default (``max_seq_len=2048``, ``rope_base=10000.0``)
    is not contract 16's."""
    torch.manual_seed(case.seed)
    default = devices.put(impl.GroupedQueryAttention(case.d_model, case.num_heads, case.num_kv_heads)).eval()
    new_keys_at(default, case, DEFAULT_MAX_SEQ_LEN - case.seq_len, base=10000.0)
    refuses_past(default, case, DEFAULT_MAX_SEQ_LEN - case.seq_len + 1, DEFAULT_MAX_SEQ_LEN)
    longer = DEFAULT_MAX_SEQ_LEN + LONGER_BY
    module = impl.GroupedQueryAttention(
        case.d_model, case.num_heads, case.num_kv_heads, max_seq_len=longer, rope_base=ROPE_BASE
    )
    module = devices.put(module).eval()
    try:
        new_keys_at(module, case, longer - case.seq_len, base=ROPE_BASE)
    except ValueError as error:
        raise AssertionError(
            f"position {longer - 1} was refused with max_seq_len={longer}: {error}"
        ) from None
    refuses_past(module, case, longer - case.seq_len + 1, longer)
