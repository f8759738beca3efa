"""The causal language-model loss: every position predicts the next token.

Contract 18 of docs/contracts.md: ``causal_lm_loss(logits, labels, ignore_index=-100)`` and
``labels_from_batch(input_ids, attention_mask, ignore_index=-100)``. Labels are aligned with the
inputs, so the loss shifts them: the logits at position ``t`` are scored against the token at
``t + 1``. The last position has nothing to predict and the first token is never a target.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """Mean next-token cross-entropy over every counted token of the batch.

    Args:
        logits: (B, T, V) unnormalized scores, in any floating dtype.
        labels: (B, T) token ids aligned with the inputs; ``ignore_index`` marks positions that
            are not targets (padding, a prompt).
        ignore_index: the label value that does not count.

    Returns:
        a 0-d float32 tensor: one mean over all counted tokens, so a long row weighs more
        than a short one.
    """
    shift_logits = logits[:, :-1, :]  # (B, T-1, V): position t predicts ...
    shift_labels = labels[:, 1:]  # (B, T-1): ... the token at t + 1
    # float32 for the reduction over the vocabulary, whatever the logits' dtype
    log_probs = F.log_softmax(shift_logits.float(), dim=-1)  # (B, T-1, V)
    counted = shift_labels != ignore_index  # (B, T-1)
    # gather cannot index with ignore_index; those positions are zeroed below anyway
    safe_labels = shift_labels.masked_fill(~counted, 0)
    nll = -log_probs.gather(-1, safe_labels.unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    return torch.where(counted, nll, 0.0).sum() / counted.sum()


def labels_from_batch(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, ignore_index: int = -100
) -> torch.Tensor:
    """The labels of a padded batch: its token ids, with ``ignore_index`` on the padding.

    Args:
        input_ids: (B, T) token ids.
        attention_mask: (B, T), 1 or True on real tokens, 0 or False on padding.
        ignore_index: what the padding positions become.

    Returns:
        a new (B, T) tensor; ``input_ids`` is left unchanged.
    """
    labels = input_ids.clone()  # a copy: the caller's input_ids are still the model's inputs
    labels[attention_mask == 0] = ignore_index
    return labels
