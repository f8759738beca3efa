"""The KV-cache reference against concatenation, and the suite against another correct
implementation."""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.kv_cache import SUITE
from pytest_mlbugs.reference_impls.kv_cache import DynamicKVCache, KVCache


def test_updates_return_the_concatenation():
    cache = KVCache(3, 6, 2, 4)
    ks = [torch.randn(2, 2, n, 4) for n in (3, 1, 2)]
    for i, k in enumerate(ks):
        k_all, v_all = cache.update(k, -k)
        expected = torch.cat(ks[: i + 1], dim=2)
        torch.testing.assert_close(k_all, expected, atol=0, rtol=0)
        torch.testing.assert_close(v_all, -expected, atol=0, rtol=0)
    assert cache.current_length == 6


def test_overflow_raises_and_changes_nothing():
    cache = KVCache(1, 3, 1, 2)
    cache.update(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2))
    before = cache.k_cache.clone()
    with pytest.raises(ValueError, match="max_seq_len"):
        cache.update(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 2, 2))
    with pytest.raises(ValueError, match="max_batch_size"):
        cache.update(torch.ones(2, 1, 1, 2), torch.ones(2, 1, 1, 2))
    assert cache.current_length == 2 and torch.equal(cache.k_cache, before)


class ListCache(nn.Module):
    """Another correct style: index_copy_ into persistent buffers, a length in a Python int,
    one combined bounds check."""

    def __init__(self, max_batch_size, max_seq_len, num_heads, head_dim, dtype=torch.float32):
        super().__init__()
        self.limits = (max_batch_size, max_seq_len)
        self.register_buffer(
            "k_cache", torch.empty(max_batch_size, num_heads, max_seq_len, head_dim, dtype=dtype)
        )
        self.register_buffer("v_cache", torch.empty_like(self.k_cache))
        self.current_length = 0

    def update(self, k, v):
        rows, length = k.shape[0], k.shape[2]
        if rows > self.limits[0] or self.current_length + length > self.limits[1]:
            raise ValueError("the cache is full")
        where = torch.arange(self.current_length, self.current_length + length, device=k.device)
        self.k_cache[:rows].index_copy_(2, where, k.to(self.k_cache.dtype))
        self.v_cache[:rows].index_copy_(2, where, v.to(self.v_cache.dtype))
        self.current_length += length
        return self.k_cache[:rows, :, : self.current_length], self.v_cache[:rows, :, : self.current_length]

    def reset(self):
        self.current_length = 0


@pytest.mark.parametrize("cls", [KVCache, ListCache], ids=["reference", "index_copy"])
@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_every_property_accepts_a_correct_implementation(prop, cls):
    assert check_property(prop, types.SimpleNamespace(KVCache=cls), seed=0) is None


class TupleDynamicCache:
    """The concatenating style as Hugging Face's legacy caches write it: tuples, ``dim=-2``."""

    def __init__(self):
        self.past = None

    @property
    def current_length(self):
        return 0 if self.past is None else self.past[0].shape[-2]

    def update(self, k, v):
        if self.past is not None:
            k, v = torch.cat((self.past[0], k), dim=-2), torch.cat((self.past[1], v), dim=-2)
        self.past = (k, v)
        return self.past

    def reset(self):
        self.past = None


DYNAMIC = next(p for p in SUITE.properties if p.name == "dynamic_cache_concatenates_along_the_sequence")


@pytest.mark.parametrize("cls", [DynamicKVCache, TupleDynamicCache], ids=["reference", "tuples"])
def test_the_dynamic_cache_property_accepts_both_concatenating_styles(cls):
    impl = types.SimpleNamespace(KVCache=KVCache, DynamicKVCache=cls)
    assert check_property(DYNAMIC, impl, seed=0) is None


def test_the_dynamic_cache_matches_the_preallocated_one():
    fixed, dynamic = KVCache(2, 5, 2, 3), DynamicKVCache()
    for n in (2, 1, 2):
        k, v = torch.randn(2, 2, n, 3), torch.randn(2, 2, n, 3)
        for expected, actual in zip(fixed.update(k, v), dynamic.update(k, v), strict=True):
            torch.testing.assert_close(actual, expected, atol=0, rtol=0)
    assert dynamic.current_length == fixed.current_length == 5


def test_concatenating_on_the_head_axis_fails():
    class HeadAxis(TupleDynamicCache):
        def update(self, k, v):
            if self.past is not None:
                k, v = torch.cat((self.past[0], k), dim=1), torch.cat((self.past[1], v), dim=1)
            self.past = (k, v)
            return self.past

    impl = types.SimpleNamespace(KVCache=KVCache, DynamicKVCache=HeadAxis)
    assert check_property(DYNAMIC, impl, seed=0) is not None


def test_a_file_without_a_dynamic_cache_passes_its_property():
    assert check_property(DYNAMIC, types.SimpleNamespace(KVCache=KVCache), seed=0) is None
