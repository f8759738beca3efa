"""Boolean attention masks: causal, padding, and their combination.

Contract 7 of docs/contracts.md. True means "may attend", the convention of
``torch.nn.functional.scaled_dot_product_attention``; masks broadcast to (B, H, Tq, Tk).
"""

from __future__ import annotations

import torch


def create_causal_mask(seq_len: int, device: torch.device | str | None = None) -> torch.Tensor:
    """A query at position t may attend to keys 0 .. t.

    Returns:
        bool (seq_len, seq_len), True on and below the diagonal.
    """
    ones = torch.ones(seq_len, seq_len, dtype=torch.bool, device=device)
    return torch.tril(ones, diagonal=0)


def create_padding_mask(input_ids: torch.Tensor, pad_token_id: int = 0) -> torch.Tensor:
    """Every query may attend to the real tokens of its sequence, never to padding.

    Args:
        input_ids: (B, T) token ids.

    Returns:
        bool (B, 1, 1, T): one row per sequence, broadcast over heads and queries.
    """
    keep = input_ids != pad_token_id  # (B, T)
    return keep.unsqueeze(1).unsqueeze(2)  # (B, 1, 1, T)


def combine_masks(causal: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
    """A key is visible when it is both in the past and a real token.

    Args:
        causal: bool (T, T) from :func:`create_causal_mask`.
        padding: bool (B, 1, 1, T) from :func:`create_padding_mask`.

    Returns:
        bool (B, 1, T, T).
    """
    # (T, T) and (B, 1, 1, T) broadcast to (B, 1, T, T)
    return torch.logical_and(causal, padding)
