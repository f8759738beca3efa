"""Next-token sampling: temperature, top-k and nucleus (top-p) filtering, then one draw per row.

Contract 19 of docs/contracts.md: ``process_logits(logits, temperature=1.0, top_k=None,
top_p=None)`` and ``sample(logits, temperature=1.0, top_k=None, top_p=None, generator=None)``.
The filters work on logits, in this order, and set what they drop to ``-inf`` so that the
softmax gives it probability 0 and renormalizes over what is left.
"""

from __future__ import annotations

import torch


def process_logits(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """Scale the logits by the temperature, then drop what top-k and the nucleus leave out.

    Args:
        logits: (B, V) next-token logits.
        temperature: positive; below 1 sharpens the distribution, above 1 flattens it.
        top_k: keep the ``top_k`` largest logits of each row (all of them when ``top_k`` is at
            least V).
        top_p: keep the fewest most probable tokens whose probability, under the softmax of
            what top-k left, reaches ``top_p``; the most probable token always stays.

    Returns:
        (B, V) logits, ``-inf`` wherever a token was filtered out.
    """
    # temperature divides the logits, not the probabilities: softmax(logits / T)
    logits = logits / temperature  # (B, V)
    if top_k is not None:
        k = min(top_k, logits.size(-1))
        kth_largest = torch.topk(logits, k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth_largest, float("-inf"))
    if top_p is not None:
        sorted_logits, sorted_indices = torch.sort(logits, dim=-1, descending=True)  # (B, V)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)  # (B, V)
        outside = cumulative > top_p  # (B, V), in sorted order
        # shift right by one: the token that crosses top_p is the last one inside the nucleus
        outside[:, 1:] = outside[:, :-1].clone()
        outside[:, 0] = False  # the most probable token is always kept
        # back from sorted order to vocabulary order
        outside = outside.scatter(-1, sorted_indices, outside)
        logits = logits.masked_fill(outside, float("-inf"))
    return logits


def sample(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One next token per row.

    Args:
        logits: (B, V) next-token logits.
        temperature: 0 means greedy decoding; otherwise as in :func:`process_logits`.
        generator: the only source of randomness (the global RNG is left alone).

    Returns:
        (B,) int64 token ids.
    """
    if temperature == 0:
        return logits.argmax(dim=-1)  # greedy: no division by zero, no draw
    probs = torch.softmax(process_logits(logits, temperature, top_k, top_p), dim=-1)  # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)  # (B,)
