"""Language models for the generation suite (contract 20), and the cases that drive them.

The suite runs every property against every model of :data:`LANGUAGE_MODELS`, the model being
part of the case. Today that is :class:`ScriptedLM`, a test double: its logits depend on the
position and on every token fed so far (a rolling hash of the prefix picks a row of a random
table, a second table adds a term per position), and its cache is an opaque object, so that a
``generate`` that peeks into the cache, forgets it, or feeds the wrong positions gets other
logits. :class:`Recorder` wraps any model and records what it is fed.

The second model, :class:`TinyLlama`, is real: contract 17's ``TransformerBlock``\\ s stacked
between an embedding and an output projection. Another goes into :data:`LANGUAGE_MODELS` by name:
a factory ``(case) -> nn.Module`` whose module has ``forward(input_ids, past_kv=None) ->
(logits (B, T, V), past_kv)``. The properties only call the model, compare it with its own
uncached greedy decoding, and never read the cache.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from hypothesis import strategies as st
from torch import nn

from pytest_mlbugs import devices
from pytest_mlbugs.reference_impls.llama_block import TransformerBlock
from pytest_mlbugs.strategies.tensors import generator, normal, seeds

#: rows of the scripted model's table: the rolling hash of a prefix picks one
HASH_STATES = 61
#: positions the scripted model knows; a longer sequence raises, as a real model's rope would
MAX_POSITIONS = 128


@dataclasses.dataclass(frozen=True)
class GenerationCase:
    #: a key of :data:`LANGUAGE_MODELS`
    model: str
    batch: int
    prompt_len: int
    max_new_tokens: int
    vocab: int
    #: -1 for no eos; otherwise row 0's greedy token at this step becomes ``eos_token_id``
    eos_step: int
    seed: int


class ScriptedCache:
    """The scripted model's cache: opaque to ``generate``, immutable, one object per call."""

    __slots__ = ("_length", "_states")

    def __init__(self, states: tuple[int, ...], length: int) -> None:
        self._states = states
        self._length = length

    def __repr__(self) -> str:
        return f"ScriptedCache(rows={len(self._states)}, length={self._length})"


class ScriptedLM(nn.Module):
    """A language model whose logits at position ``p`` depend on ``p`` and on every token up to
    it; ``scale`` is a parameter, so logits computed with autograd enabled carry a graph.

    Args:
        vocab: vocabulary size.
        seed: draws both tables.
    """

    table: torch.Tensor
    positions: torch.Tensor

    def __init__(self, vocab: int, seed: int) -> None:
        super().__init__()
        gen = generator(seed)
        self.register_buffer("table", normal(gen, (HASH_STATES, vocab), scale=2.0))
        self.register_buffer("positions", normal(gen, (MAX_POSITIONS, vocab), scale=0.5))
        self.scale = nn.Parameter(torch.ones(()))

    def forward(
        self, input_ids: torch.Tensor, past_kv: ScriptedCache | None = None
    ) -> tuple[torch.Tensor, Any]:
        batch, length = input_ids.shape
        if past_kv is None:
            states, start = (0,) * batch, 0
        else:
            if not isinstance(past_kv, ScriptedCache):
                raise TypeError(
                    f"past_kv must be the cache this model returned, got {type(past_kv).__name__}"
                )
            states, start = past_kv._states, past_kv._length
            if len(states) != batch:
                raise ValueError(f"a cache of {len(states)} rows fed with {batch} rows")
        if start + length > MAX_POSITIONS:
            raise ValueError(f"position {start + length - 1} is beyond the model's {MAX_POSITIONS} positions")
        rows, new_states = [], []
        for b, tokens in enumerate(input_ids.tolist()):
            state, picked = states[b], []
            for token in tokens:
                state = (state * 31 + token + 1) % HASH_STATES
                picked.append(state)
            rows.append(picked)
            new_states.append(state)
        index = torch.tensor(rows, device=self.table.device)  # (B, T)
        logits = self.table[index] + self.positions[start : start + length]  # (B, T, V)
        return logits * self.scale, ScriptedCache(tuple(new_states), start + length)


def scripted_model(case: GenerationCase) -> nn.Module:
    return ScriptedLM(case.vocab, case.seed)


class TinyLlama(nn.Module):
    """A real language model: contract 17's blocks (the reference's) stacked between an embedding
    and an output projection. Its cache is the list of each block's ``(k, v)``; its weights come
    from the seed, scaled up so that greedy choices are clear-cut rather than near-ties."""

    def __init__(self, vocab: int, seed: int, *, d_model: int = 8, layers: int = 2) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.embed = nn.Embedding(vocab, d_model)
        self.blocks = nn.ModuleList(
            TransformerBlock(d_model, num_heads=2, num_kv_heads=1, hidden_dim=2 * d_model)
            for _ in range(layers)
        )
        self.head = nn.Linear(d_model, vocab, bias=False)
        with torch.no_grad():
            self.head.weight.mul_(8.0)

    def forward(self, input_ids: torch.Tensor, past_kv: Any = None) -> tuple[torch.Tensor, list[Any]]:
        if past_kv is not None and not (isinstance(past_kv, list) and len(past_kv) == len(self.blocks)):
            raise TypeError(f"past_kv must be the cache this model returned, got {type(past_kv).__name__}")
        h = self.embed(input_ids)  # (B, T, d_model)
        caches = []
        for number, block in enumerate(self.blocks):
            h, cache = block(h, None if past_kv is None else past_kv[number])
            caches.append(cache)
        return self.head(h), caches  # (B, T, V)


def tiny_llama(case: GenerationCase) -> nn.Module:
    return TinyLlama(case.vocab, case.seed)


#: the models every generation property runs against, by name: a scripted test double and a
#: small real model
LANGUAGE_MODELS: dict[str, Callable[[GenerationCase], nn.Module]] = {
    "scripted": scripted_model,
    "tiny_llama": tiny_llama,
}


@dataclasses.dataclass
class Call:
    """One forward call as :class:`Recorder` saw it."""

    input_ids: torch.Tensor
    past_kv: Any
    returned_kv: Any
    training: bool
    grad_enabled: bool


class Recorder(nn.Module):
    """Wraps a language model and records every call: what it was fed, with which cache, in
    which mode. ``train()``/``eval()`` reach the wrapped model as for any submodule."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.calls: list[Call] = []

    def forward(self, input_ids: torch.Tensor, past_kv: Any = None) -> tuple[torch.Tensor, Any]:
        logits, returned = self.model(input_ids, past_kv=past_kv)
        self.calls.append(
            Call(
                devices.to_cpu(input_ids.detach()), past_kv, returned, self.training, torch.is_grad_enabled()
            )
        )
        return logits, returned


def build_model(case: GenerationCase) -> Recorder:
    """The case's model, recorded, in train mode, on the session's device."""
    return devices.put(Recorder(LANGUAGE_MODELS[case.model](case)).train())


def make_prompt(case: GenerationCase) -> torch.Tensor:
    """(B, T0) int64 prompts whose rows differ."""
    gen = generator(case.seed + 1)
    prompt = torch.randint(0, case.vocab, (case.batch, case.prompt_len), generator=gen)
    prompt[:, 0] = torch.arange(case.batch) % case.vocab  # distinct rows
    return devices.put(prompt)


def generation_cases(
    *,
    max_batch: int = 3,
    min_prompt: int = 2,
    max_prompt: int = 5,
    max_new_tokens: int = 6,
    min_vocab: int = 4,
    max_vocab: int = 9,
    eos: bool = True,
) -> st.SearchStrategy[GenerationCase]:
    """Cases over every model of :data:`LANGUAGE_MODELS`; prompts of at least two tokens (a
    one-token prompt hides a read from the first position); with ``eos`` half of them stop
    at a token of row 0's greedy continuation."""
    if not 1 <= min_prompt <= max_prompt or max_batch < 1 or max_new_tokens < 1:
        raise ValueError(
            "need 1 <= min_prompt <= max_prompt, max_batch >= 1, max_new_tokens >= 1, got "
            f"{min_prompt}, {max_prompt}, {max_batch}, {max_new_tokens}"
        )
    if not 2 <= min_vocab <= max_vocab or max_prompt + max_new_tokens > MAX_POSITIONS:
        raise ValueError(f"need 2 <= min_vocab <= max_vocab and sequences within {MAX_POSITIONS} positions")

    @st.composite
    def draw(draw_: st.DrawFn) -> GenerationCase:
        new_tokens = draw_(st.integers(1, max_new_tokens))
        eos_step = draw_(st.integers(-1, new_tokens - 1)) if eos else -1
        return GenerationCase(
            model=draw_(st.sampled_from(sorted(LANGUAGE_MODELS))),
            batch=draw_(st.integers(1, max_batch)),
            prompt_len=draw_(st.integers(min_prompt, max_prompt)),
            max_new_tokens=new_tokens,
            vocab=draw_(st.integers(min_vocab, max_vocab)),
            eos_step=eos_step,
            seed=draw_(seeds()),
        )

    return draw()


def for_every_model(case: GenerationCase) -> list[GenerationCase]:
    """``case`` once per model of :data:`LANGUAGE_MODELS`: explicit cases for each of them."""
    return [dataclasses.replace(case, model=name) for name in sorted(LANGUAGE_MODELS)]
