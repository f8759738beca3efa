"""Key/value caches for incremental (token by token) decoding.

Contract 4 of docs/contracts.md:
``KVCache(max_batch_size, max_seq_len, num_heads, head_dim, dtype=torch.float32)``, preallocated,
and ``DynamicKVCache()``, grown by concatenation.
"""

from __future__ import annotations

import torch
from torch import nn


class KVCache(nn.Module):
    """Preallocated keys and values of the positions decoded so far.

    The storage is two buffers so that ``.to(device)`` moves it with the model; it is not
    part of the checkpoint (``persistent=False``): a cache is state of one generation.

    Args:
        max_batch_size: the most sequences decoded at once.
        max_seq_len: the most positions the cache holds.
        num_heads: attention heads.
        head_dim: width of one head.
        dtype: dtype of the stored keys and values.
    """

    k_cache: torch.Tensor
    v_cache: torch.Tensor

    def __init__(
        self,
        max_batch_size: int,
        max_seq_len: int,
        num_heads: int,
        head_dim: int,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.max_batch_size = max_batch_size
        self.max_seq_len = max_seq_len
        shape = (max_batch_size, num_heads, max_seq_len, head_dim)
        self.register_buffer("k_cache", torch.zeros(shape, dtype=dtype), persistent=False)
        self.register_buffer("v_cache", torch.zeros(shape, dtype=dtype), persistent=False)
        self.current_length = 0

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append ``k``, ``v`` (B, H, T_new, D) after the cached positions.

        Returns:
            ``(k_all, v_all)``, each (B, H, current_length, D): every position cached so far
            for the first B rows, the new ones included.

        Raises:
            ValueError: the new positions do not fit; the cache is left unchanged.
        """
        batch, _, new_len, _ = k.shape
        # Check everything before touching any state, so that a refused update changes nothing.
        if batch > self.max_batch_size:
            raise ValueError(f"batch of {batch} exceeds max_batch_size={self.max_batch_size}")
        end = self.current_length + new_len
        if end > self.max_seq_len:
            raise ValueError(
                f"{self.current_length} cached and {new_len} new positions exceed "
                f"max_seq_len={self.max_seq_len}"
            )
        # Both ends of the write read current_length, which advances only after the write.
        self.k_cache[:batch, :, self.current_length : self.current_length + new_len] = k
        self.v_cache[:batch, :, self.current_length : self.current_length + new_len] = v
        self.current_length = end
        return self.k_cache[:batch, :, : self.current_length], self.v_cache[:batch, :, : self.current_length]

    def reset(self) -> None:
        """Forget the cached positions; the storage is overwritten by the next updates."""
        self.current_length = 0


class DynamicKVCache:
    """Keys and values grown by concatenation along the sequence axis, as Hugging Face's
    ``DynamicCache``: nothing is preallocated and there is no limit, at the price of a copy of
    the whole cache at every update. Device and dtype follow the first update.
    """

    def __init__(self) -> None:
        self.past: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def current_length(self) -> int:
        return 0 if self.past is None else self.past[0].shape[2]

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append ``k``, ``v`` (B, H, T_new, D) after the cached positions.

        Returns:
            ``(k_all, v_all)``, each (B, H, current_length, D).
        """
        if self.past is not None:
            past_k, past_v = self.past
            k = torch.cat([past_k, k], dim=2)  # (B, H, T_past + T_new, D)
            v = torch.cat([past_v, v], dim=2)
        self.past = (k, v)
        return k, v

    def reset(self) -> None:
        """Forget the cached positions."""
        self.past = None
