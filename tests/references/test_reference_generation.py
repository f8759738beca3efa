"""Contract 20: the generation reference on a model whose greedy continuation is known, the
suite against other correct styles, and hand-written bugs that no mutator writes."""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.generation import SUITE
from pytest_mlbugs.reference_impls import generation as reference
from pytest_mlbugs.reference_impls.sampling import sample


class CountingLM(nn.Module):
    """Predicts ``(last token + 1) % vocab`` at every position; the cache is the length so far."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.fed: list[tuple[int, int | None]] = []  # (tokens fed, cache length given)

    def forward(self, input_ids, past_kv=None):
        self.fed.append((input_ids.shape[1], past_kv))
        logits = nn.functional.one_hot((input_ids + 1) % self.vocab, self.vocab).float() * 5
        return logits, (past_kv or 0) + input_ids.shape[1]


def test_greedy_decoding_counts_on_from_the_prompt():
    model = CountingLM(vocab=7)
    out = reference.generate(model, torch.tensor([[3, 4], [0, 5]]), max_new_tokens=3)
    assert out.tolist() == [[3, 4, 5, 6, 0], [0, 5, 6, 0, 1]]
    # the prompt once, then one token per step with the cache, and the allowed extra call
    assert model.fed == [(2, None), (1, 2), (1, 3), (1, 4)]


def test_eos_freezes_a_row_and_stops_the_batch():
    model = CountingLM(vocab=7)
    out = reference.generate(model, torch.tensor([[4], [1]]), max_new_tokens=6, eos_token_id=6)
    # row 0 reaches 6 at its second token and repeats it; row 1 reaches 6 at its fifth
    assert out.tolist() == [[4, 5, 6, 6, 6, 6], [1, 2, 3, 4, 5, 6]]


def test_the_mode_is_restored_and_no_graph_is_built():
    model = CountingLM(vocab=5).train()
    weight = nn.Parameter(torch.ones(()))
    model.register_forward_hook(lambda m, args, out: (out[0] * weight, out[1]))
    out = reference.generate(model, torch.tensor([[1]]), max_new_tokens=2)
    assert model.training and not out.requires_grad


# ---------------------------------------------------------------------------------------------
# other correct styles


def _while_generate(
    model,
    input_ids,
    max_new_tokens,
    temperature=0.0,
    top_k=None,
    top_p=None,
    generator=None,
    eos_token_id=None,
):
    """A while loop that feeds the pending token at the top of each iteration (no call after
    the last step), inference_mode, try/finally for the mode, Hugging Face's unfinished mask."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            pieces = [input_ids]
            unfinished = torch.ones(input_ids.shape[0], dtype=torch.long, device=input_ids.device)
            logits, cache = model(input_ids)
            while True:
                token = sample(logits[:, -1], temperature, top_k, top_p, generator)
                if eos_token_id is not None:
                    token = token * unfinished + eos_token_id * (1 - unfinished)
                    unfinished = unfinished * (token != eos_token_id).long()
                pieces.append(token.unsqueeze(-1))
                if len(pieces) - 1 == max_new_tokens or unfinished.max() == 0:
                    break
                logits, cache = model(token.unsqueeze(-1), cache)
            return torch.cat(pieces, dim=-1).clone()
    finally:
        model.train(was_training)


@torch.no_grad()
def _decorated_generate(
    model,
    input_ids,
    max_new_tokens,
    temperature=0.0,
    top_k=None,
    top_p=None,
    generator=None,
    eos_token_id=None,
):
    """A decorator instead of a context, a preallocated output, the done flags as a Python list."""
    was_training = model.training
    model.eval()
    batch, start = input_ids.shape
    out = torch.empty(batch, start + max_new_tokens, dtype=torch.long, device=input_ids.device)
    out[:, :start] = input_ids
    done = [False] * batch
    logits, past = model(input_ids, past_kv=None)
    length = start
    for step in range(max_new_tokens):
        nxt = sample(logits[:, -1, :], temperature=temperature, top_k=top_k, top_p=top_p, generator=generator)
        for row in range(batch):
            if done[row]:
                nxt[row] = eos_token_id
            elif eos_token_id is not None and int(nxt[row]) == eos_token_id:
                done[row] = True
        out[:, length] = nxt
        length += 1
        if all(done) or step == max_new_tokens - 1:
            break
        logits, past = model(out[:, length - 1 : length], past_kv=past)
    if was_training:
        model.train()
    return out[:, :length]


ALTERNATIVES = {
    "reference": reference,
    "while_loop": types.SimpleNamespace(generate=_while_generate),
    "decorated": types.SimpleNamespace(generate=_decorated_generate),
}


@pytest.mark.parametrize("impl_name", sorted(ALTERNATIVES))
@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_every_correct_style_passes_every_property(impl_name, prop):
    assert check_property(prop, ALTERNATIVES[impl_name], seed=0) is None


# ---------------------------------------------------------------------------------------------
# hand-written bugs


def _stops_at_the_first_finished_row(
    model,
    input_ids,
    max_new_tokens,
    temperature=0.0,
    top_k=None,
    top_p=None,
    generator=None,
    eos_token_id=None,
):
    was_training = model.training
    model.eval()
    tokens, finished = input_ids, torch.zeros(input_ids.shape[0], dtype=torch.bool)
    with torch.no_grad():
        logits, past = model(input_ids)
        for _ in range(max_new_tokens):
            token = sample(logits[:, -1], temperature, top_k, top_p, generator)
            if eos_token_id is not None:
                finished |= token == eos_token_id
            tokens = torch.cat([tokens, token[:, None]], dim=1)
            if finished.any():
                break
            logits, past = model(token[:, None], past)
    model.train(was_training)
    return tokens


def _always_greedy(model, input_ids, max_new_tokens, eos_token_id=None, **sampling):
    """argmax whatever the temperature: sampling never happens."""
    return reference.generate(model, input_ids, max_new_tokens, eos_token_id=eos_token_id)


def _always_back_to_train(model, input_ids, max_new_tokens, **options):
    out = reference.generate(model, input_ids, max_new_tokens, **options)
    model.train()
    return out


def _recomputes_without_cache(
    model,
    input_ids,
    max_new_tokens,
    temperature=0.0,
    top_k=None,
    top_p=None,
    generator=None,
    eos_token_id=None,
):
    """Right tokens, wrong cost: the whole sequence is fed again at every step, without a cache."""
    was_training = model.training
    model.eval()
    tokens = input_ids
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits, _ = model(tokens, past_kv=None)
            token = sample(logits[:, -1], temperature, top_k, top_p, generator)
            tokens = torch.cat([tokens, token[:, None]], dim=1)
    model.train(was_training)
    return tokens


@pytest.mark.parametrize(
    "generate, failing",
    [
        (_stops_at_the_first_finished_row, "eos_stops_each_row_and_the_whole_batch"),
        (_always_greedy, "sampling_follows_contract_19"),
        (_always_back_to_train, "the_model_runs_in_eval_mode_and_its_mode_is_restored"),
        (_recomputes_without_cache, "the_prompt_is_fed_once_then_one_token_per_step"),
    ],
    ids=["any_row_stops_all", "always_greedy", "always_train", "no_cache"],
)
def test_hand_written_bugs_are_rejected(generate, failing):
    prop = next(p for p in SUITE.properties if p.name == failing)
    assert check_property(prop, types.SimpleNamespace(generate=generate), seed=0) is not None
