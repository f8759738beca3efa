"""Contract 4: ``kv_cache.KVCache``, and ``kv_cache.DynamicKVCache`` where a file defines it."""

from __future__ import annotations

from typing import Any

import torch

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.strategies.kv_cache import CacheCase, cache_cases
from pytest_mlbugs.strategies.tensors import generator, normal
from pytest_mlbugs.suite import Suite

SUITE = Suite("kv_cache", names=("KVCache",), contract="contract 4: KVCache")

#: two rows in a cache of three, updates of 2, 1 and 2 positions that fill it exactly
RICH = CacheCase(batch=2, spare_rows=1, num_heads=2, head_dim=3, chunks=(2, 1, 2), spare_positions=0, seed=1)
#: one position per update, as in generation: a cache grown on the wrong axis keeps working
#: and returns tensors of the wrong shape rather than failing
TOKEN_BY_TOKEN = CacheCase(
    batch=2, spare_rows=0, num_heads=2, head_dim=3, chunks=(1, 1, 1), spare_positions=0, seed=3
)
ROOMY = CacheCase(batch=1, spare_rows=2, num_heads=3, head_dim=2, chunks=(1, 3), spare_positions=2, seed=2)


def make(impl: Any, case: CacheCase, *, dtype: torch.dtype = torch.float32) -> Any:
    """The cache as the contract builds it, on the default device."""
    return impl.KVCache(case.max_batch_size, case.max_seq_len, case.num_heads, case.head_dim, dtype=dtype)


def build(impl: Any, case: CacheCase, *, dtype: torch.dtype = torch.float32) -> Any:
    """The cache on the session's device."""
    return devices.put(make(impl, case, dtype=dtype))


def chunks(case: CacheCase, *, dtype: torch.dtype = torch.float32, seed_offset: int = 0):
    """One (k, v) pair (B, H, T_new, D) per update, distinct and non-zero."""
    gen = generator(case.seed + seed_offset)
    for length in case.chunks:
        shape = (case.batch, case.num_heads, length, case.head_dim)
        yield devices.put(normal(gen, shape, dtype=dtype)), devices.put(normal(gen, shape, dtype=dtype))


def assert_decodes_incrementally(cache: Any, case: CacheCase, pairs) -> None:
    """Feed ``pairs`` and compare each returned (k_all, v_all) with the concatenation so far."""
    seen_k: list[torch.Tensor] = []
    seen_v: list[torch.Tensor] = []
    for step, (k, v) in enumerate(pairs):
        k_all, v_all = cache.update(k, v)
        seen_k.append(k)
        seen_v.append(v)
        length = sum(t.shape[2] for t in seen_k)
        shape = (case.batch, case.num_heads, length, case.head_dim)
        assert tuple(k_all.shape) == shape, (
            f"update {step}: k_all has shape {tuple(k_all.shape)}, expected {shape}"
        )
        assert tuple(v_all.shape) == shape, (
            f"update {step}: v_all has shape {tuple(v_all.shape)}, expected {shape}"
        )
        assert cache.current_length == length, (
            f"update {step}: current_length {cache.current_length} != {length}"
        )
        torch.testing.assert_close(k_all, torch.cat(seen_k, dim=2), atol=0.0, rtol=0.0)
        torch.testing.assert_close(v_all, torch.cat(seen_v, dim=2), atol=0.0, rtol=0.0)


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="generation is garbage after the first token although a full forward pass is fine",
    cases=cache_cases(),
    explicit=[RICH, ROOMY],
    max_examples=6,
)
def incremental_updates_equal_the_full_sequence(impl: Any, case: CacheCase) -> None:
    """Updating the cache chunk by chunk does not return exactly the keys and values written
    so far (B, H, current_length, D): the write lands at the wrong offset, the read slice is
    off by one or on the wrong axis, or the length is advanced wrongly."""
    cache = build(impl, case)
    assert cache.current_length == 0, f"a new cache has current_length {cache.current_length}"
    storage = (case.max_batch_size, case.num_heads, case.max_seq_len, case.head_dim)
    for name in ("k_cache", "v_cache"):
        shape = tuple(getattr(cache, name).shape)
        assert shape == storage, f"{name} has shape {shape}, expected {storage}"
    assert_decodes_incrementally(cache, case, chunks(case))


def snapshot(cache: Any) -> tuple[int, torch.Tensor, torch.Tensor]:
    return cache.current_length, cache.k_cache.clone(), cache.v_cache.clone()


def assert_unchanged(cache: Any, before: tuple[int, torch.Tensor, torch.Tensor], what: str) -> None:
    length, k_cache, v_cache = before
    assert cache.current_length == length, (
        f"{what} moved current_length from {length} to {cache.current_length}"
    )
    # equal_nan: storage from torch.empty may hold NaN in the positions never written
    for name, saved in (("k_cache", k_cache), ("v_cache", v_cache)):
        torch.testing.assert_close(
            getattr(cache, name), saved, atol=0.0, rtol=0.0, equal_nan=True, msg=f"{what} changed {name}"
        )


def assert_refused(cache: Any, k: torch.Tensor, v: torch.Tensor, what: str) -> None:
    before = snapshot(cache)
    try:
        cache.update(k, v)
    except ValueError:
        pass
    except Exception as exc:  # the contract promises ValueError, and an unchanged cache
        raise AssertionError(f"{what} raised {type(exc).__name__}, not ValueError: {exc}") from exc
    else:
        raise AssertionError(f"{what} did not raise ValueError")
    assert_unchanged(cache, before, what)


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="a long generation crashes with a shape error, or silently continues from corrupted state",
    cases=cache_cases(),
    explicit=[RICH, ROOMY],
    max_examples=5,
)
def overflow_raises_and_leaves_the_cache_unchanged(impl: Any, case: CacheCase) -> None:
    """Writing past max_seq_len or max_batch_size does not raise ValueError, or changes
    current_length or the stored keys and values before raising."""
    cache = build(impl, case)
    pairs = list(chunks(case))
    prefix, (last_k, last_v) = pairs[:-1], pairs[-1]
    for k, v in prefix:
        cache.update(k, v)
    gen = generator(case.seed + 7)
    room = case.max_seq_len - cache.current_length
    too_long = (case.batch, case.num_heads, room + 1, case.head_dim)
    assert_refused(
        cache,
        devices.put(normal(gen, too_long)),
        devices.put(normal(gen, too_long)),
        f"writing {room + 1} positions into {room} free",
    )
    too_wide = (case.max_batch_size + 1, case.num_heads, 1, case.head_dim)
    assert_refused(
        cache,
        devices.put(normal(gen, too_wide)),
        devices.put(normal(gen, too_wide)),
        f"a batch of {case.max_batch_size + 1} rows",
    )
    # the refused updates left a cache that still decodes correctly
    k_all, v_all = cache.update(last_k, last_v)
    torch.testing.assert_close(k_all, torch.cat([k for k, _ in pairs], dim=2), atol=0.0, rtol=0.0)
    torch.testing.assert_close(v_all, torch.cat([v for _, v in pairs], dim=2), atol=0.0, rtol=0.0)
    assert cache.current_length == case.max_seq_len - case.spare_positions, (
        f"current_length {cache.current_length}"
    )


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="the second prompt of a session generates garbage or crashes: the cache is not reset",
    cases=cache_cases(),
    explicit=[RICH],
    max_examples=4,
)
def reset_starts_a_new_sequence(impl: Any, case: CacheCase) -> None:
    """After ``reset()`` the cache does not start from position 0: ``current_length`` is not
    0, or the next updates return positions from the previous sequence."""
    cache = build(impl, case)
    for k, v in chunks(case):
        cache.update(k, v)
    cache.reset()
    assert cache.current_length == 0, f"after reset(), current_length is {cache.current_length}"
    assert_decodes_incrementally(cache, case, chunks(case, seed_offset=1))


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="RuntimeError: Expected all tensors to be on the same device, once moved to the GPU",
    cases=cache_cases(max_chunks=2),
    explicit=[RICH],
    max_examples=2,
)
def storage_follows_the_module_device(impl: Any, case: CacheCase) -> None:
    """The cache storage does not follow ``.to()`` or the default device: it is a plain
    attribute instead of a buffer, or created on a hard-coded device."""
    cache = build(impl, case)
    buffers = dict(cache.named_buffers())
    assert {"k_cache", "v_cache"} <= set(buffers), f"buffers are {sorted(buffers)}, not k_cache and v_cache"
    moved = build(impl, case).to("meta")
    with torch.device("meta"):
        created = make(impl, case)  # not put: the default device is what is checked
    for where, meta_cache in (("after .to('meta')", moved), ("built under torch.device('meta')", created)):
        for name in ("k_cache", "v_cache"):
            device = getattr(meta_cache, name).device
            assert device.type == "meta", f"{where}, {name} is on {device}"
        for k, v in chunks(case):
            k_all, v_all = meta_cache.update(k.to("meta"), v.to("meta"))
        assert k_all.device.type == "meta" and v_all.device.type == "meta", (
            f"{where}, update returned {k_all.device}"
        )


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="half-precision inference runs out of memory or mixes dtypes; float64 checks lose precision",
    cases=cache_cases(max_chunks=2),
    explicit=[RICH],
    max_examples=2,
)
def dtype_argument_is_respected(impl: Any, case: CacheCase) -> None:
    """The ``dtype`` argument is ignored: the storage or the returned keys and values have
    another dtype, or float64 values are rounded on the way through."""
    for dtype in (torch.float64, torch.bfloat16):
        cache = build(impl, case, dtype=dtype)
        for name in ("k_cache", "v_cache"):
            actual = getattr(cache, name).dtype
            assert actual == dtype, f"KVCache(dtype={dtype}) stores {name} as {actual}"
        pairs = list(chunks(case, dtype=dtype))
        assert_decodes_incrementally(cache, case, pairs)  # exact, dtype included


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="generation is garbage after the first token, or fails with a shape error in attention",
    cases=cache_cases(),
    explicit=[TOKEN_BY_TOKEN, RICH, ROOMY],
    max_examples=4,
)
def dynamic_cache_concatenates_along_the_sequence(impl: Any, case: CacheCase) -> None:
    """DynamicKVCache (checked where a file defines it) does not return every key and value
    so far, (B, H, current_length, D), update after update and again after reset(): it
    concatenates on another axis, drops or repeats positions, or keeps them across reset()."""
    if not hasattr(impl, "DynamicKVCache"):
        return  # optional in contract 4
    cache = impl.DynamicKVCache()
    assert cache.current_length == 0, f"a new DynamicKVCache has current_length {cache.current_length}"
    assert_decodes_incrementally(cache, case, chunks(case))
    cache.reset()
    assert cache.current_length == 0, f"after reset(), current_length is {cache.current_length}"
    assert_decodes_incrementally(cache, case, chunks(case, seed_offset=1))
