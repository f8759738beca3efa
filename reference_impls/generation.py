"""Autoregressive generation with a key/value cache.

Contract 20 of docs/contracts.md: ``generate(model, input_ids, max_new_tokens, temperature=0.0,
top_k=None, top_p=None, generator=None, eos_token_id=None)``. The model is any
``model(input_ids, past_kv=None) -> (logits, past_kv)``; its cache is opaque here. The prompt is
fed once (the prefill), then one new token per step together with the cache the model returned,
so a step costs one position, not the whole sequence again.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pytest_mlbugs.reference_impls.sampling import sample


def generate(
    model: nn.Module,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    eos_token_id: int | None = None,
) -> torch.Tensor:
    """Extend each prompt by up to ``max_new_tokens`` tokens.

    Args:
        model: returns ``(logits (B, T, V), past_kv)`` for ``(input_ids (B, T), past_kv)``.
        input_ids: (B, T0) prompts, all of the same length.
        temperature, top_k, top_p, generator: passed to contract 19's ``sample`` (temperature 0
            is greedy decoding).
        eos_token_id: a row that has produced it emits it again at every later step; generation
            stops as soon as every row has produced it.

    Returns:
        (B, T0 + steps) int64: the prompts followed by the generated tokens. The model is left
        in the train/eval mode it had before the call.
    """
    was_training = model.training
    model.eval()  # dropout off while decoding
    tokens = input_ids  # (B, T0)
    finished = torch.zeros(input_ids.size(0), dtype=torch.bool, device=input_ids.device)  # (B,)
    past_kv: Any = None
    with torch.no_grad():
        logits, past_kv = model(input_ids, past_kv=past_kv)  # prefill: the whole prompt, once
        for _ in range(max_new_tokens):
            # only the last position predicts the next token
            next_token = sample(logits[:, -1, :], temperature, top_k, top_p, generator)  # (B,)
            if eos_token_id is not None:
                # a finished row keeps emitting eos, whatever its logits say
                next_token = torch.where(finished, eos_token_id, next_token)
                finished = finished | (next_token == eos_token_id)
            tokens = torch.cat([tokens, next_token[:, None]], dim=1)  # (B, T + 1)
            if finished.all():
                break
            # one new position per step; the cache holds the rest
            logits, past_kv = model(next_token[:, None], past_kv=past_kv)
    model.train(was_training)
    return tokens
