"""Shapes and masks for attention, masks and decoder properties."""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import strategies as st

from pytest_mlbugs import devices
from pytest_mlbugs.strategies.tensors import bernoulli_mask, generator, seeds


@dataclasses.dataclass(frozen=True)
class AttentionCase:
    batch: int
    q_len: int
    kv_len: int
    num_heads: int
    head_dim: int
    #: "none", "full" (B, 1, Tq, Tk), "keys" (B, 1, 1, Tk) or "square" (Tq, Tk)
    mask: str
    seed: int

    @property
    def d_model(self) -> int:
        return self.num_heads * self.head_dim

    def make_mask(self) -> torch.Tensor | None:
        """A boolean mask (True = may attend) in which every query row keeps a key, on the
        session's device."""
        if self.mask == "none":
            return None
        shape = {
            "full": (self.batch, 1, self.q_len, self.kv_len),
            "keys": (self.batch, 1, 1, self.kv_len),
            "square": (self.q_len, self.kv_len),
        }[self.mask]
        return devices.put(allowed_mask(self.seed + 1, shape))


def allowed_mask(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """A random boolean mask (True = may attend) with at least one True in every row (last axis):
    the output of a query with no allowed key is unspecified by the contract. On the CPU."""
    gen = generator(seed)
    mask = bernoulli_mask(gen, shape)
    keep = torch.randint(0, shape[-1], shape[:-1], generator=gen)
    return mask.scatter(-1, keep.unsqueeze(-1), True)


def attention_cases(
    *,
    min_heads: int = 2,
    max_heads: int = 4,
    min_head_dim: int = 2,
    max_head_dim: int = 8,
    max_batch: int = 3,
    max_len: int = 6,
    masks: tuple[str, ...] = ("none", "full", "keys", "square"),
) -> st.SearchStrategy[AttentionCase]:
    """Attention inputs with several heads of size at least 2: one head or ``d_k = 1`` would
    make a missing transpose or a dropped ``1/sqrt(d_k)`` invisible."""
    if min_heads < 1 or min_heads > max_heads:
        raise ValueError(f"need 1 <= min_heads <= max_heads, got {min_heads}, {max_heads}")
    if min_head_dim < 1 or min_head_dim > max_head_dim:
        raise ValueError(f"need 1 <= min_head_dim <= max_head_dim, got {min_head_dim}, {max_head_dim}")
    return st.builds(
        AttentionCase,
        batch=st.integers(1, max_batch),
        q_len=st.integers(1, max_len),
        kv_len=st.integers(1, max_len),
        num_heads=st.integers(min_heads, max_heads),
        head_dim=st.integers(min_head_dim, max_head_dim),
        mask=st.sampled_from(masks),
        seed=seeds(),
    )
