"""Shapes and masks for the Transformer decoder layer."""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import strategies as st

from pytest_mlbugs import devices
from pytest_mlbugs.strategies.attention import allowed_mask
from pytest_mlbugs.strategies.tensors import seeds


@dataclasses.dataclass(frozen=True)
class DecoderCase:
    batch: int
    tgt_len: int
    src_len: int
    num_heads: int
    head_dim: int
    d_ff: int
    #: "none" or "causal" (tgt_len, tgt_len)
    self_mask: str
    #: "none", "keys" (B, 1, 1, S) (encoder padding) or "full" (B, 1, T, S)
    cross_mask: str
    seed: int

    @property
    def d_model(self) -> int:
        return self.num_heads * self.head_dim

    def make_self_mask(self) -> torch.Tensor | None:
        """The causal mask (True on and below the diagonal), or ``None``."""
        if self.self_mask == "none":
            return None
        return devices.put(torch.tril(torch.ones(self.tgt_len, self.tgt_len, dtype=torch.bool)))

    def make_cross_mask(self) -> torch.Tensor | None:
        """A boolean mask (True = may attend) in which every decoder position keeps a key."""
        if self.cross_mask == "none":
            return None
        shape = {
            "keys": (self.batch, 1, 1, self.src_len),
            "full": (self.batch, 1, self.tgt_len, self.src_len),
        }[self.cross_mask]
        return devices.put(allowed_mask(self.seed + 1, shape))


def decoder_cases(
    *,
    min_heads: int = 2,
    max_heads: int = 4,
    min_head_dim: int = 2,
    max_head_dim: int = 4,
    max_batch: int = 3,
    min_len: int = 1,
    max_len: int = 6,
    self_masks: tuple[str, ...] = ("none", "causal"),
    cross_masks: tuple[str, ...] = ("none", "keys", "full"),
) -> st.SearchStrategy[DecoderCase]:
    """Decoder inputs with several heads of size at least 2 and an encoder output whose
    length is drawn independently of the decoder's."""
    if min_heads < 1 or min_heads > max_heads:
        raise ValueError(f"need 1 <= min_heads <= max_heads, got {min_heads}, {max_heads}")
    if min_head_dim < 1 or min_head_dim > max_head_dim:
        raise ValueError(f"need 1 <= min_head_dim <= max_head_dim, got {min_head_dim}, {max_head_dim}")
    if min_len < 1 or min_len > max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got {min_len}, {max_len}")
    return st.builds(
        DecoderCase,
        batch=st.integers(1, max_batch),
        tgt_len=st.integers(min_len, max_len),
        src_len=st.integers(min_len, max_len),
        num_heads=st.integers(min_heads, max_heads),
        head_dim=st.integers(min_head_dim, max_head_dim),
        d_ff=st.integers(4, 16),
        self_mask=st.sampled_from(self_masks),
        cross_mask=st.sampled_from(cross_masks),
        seed=seeds(),
    )
