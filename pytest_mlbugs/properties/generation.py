"""Contract 20: ``generation.generate``.

Every property runs against every model of
:data:`pytest_mlbugs.strategies.generation.LANGUAGE_MODELS` (the model is part of the case),
wrapped in a :class:`Recorder` that keeps what each call was fed. The oracle is the model's own
greedy decoding without a cache: the whole sequence fed again at every step, the argmax of the
last position taken. A cache that is used correctly gives exactly those tokens.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.strategies.generation import (
    GenerationCase,
    Recorder,
    build_model,
    for_every_model,
    generation_cases,
    make_prompt,
)
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "generation",
    names=("generate",),
    contract="contract 20: generate",
)

RICH = GenerationCase(model="scripted", batch=3, prompt_len=4, max_new_tokens=5, vocab=6, eos_step=-1, seed=2)
#: row 0 stops at its third token; the others go on
STOPS = GenerationCase(model="scripted", batch=2, prompt_len=3, max_new_tokens=6, vocab=5, eos_step=2, seed=7)
#: one row: the whole batch stops early
ALONE = GenerationCase(model="scripted", batch=1, prompt_len=2, max_new_tokens=6, vocab=7, eos_step=1, seed=9)


def greedy_without_cache(model: Recorder, prompt: torch.Tensor, steps: int) -> torch.Tensor:
    """(B, T0 + steps): the whole sequence fed again at every step, the last position's argmax."""
    was_training = model.training
    model.eval()
    tokens = prompt
    with torch.no_grad():
        for _ in range(steps):
            logits, _ = model.model(tokens, past_kv=None)
            tokens = torch.cat([tokens, logits[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
    model.train(was_training)
    return tokens


def with_eos(full: torch.Tensor, prompt_len: int, eos: int | None) -> torch.Tensor:
    """The uncached continuation as contract 20 emits it with ``eos``: a finished row repeats
    eos, and the sequence ends at the step where the last row finishes."""
    if eos is None:
        return full
    finished = torch.zeros(full.size(0), dtype=torch.bool, device=full.device)
    columns = []
    for step in range(full.size(1) - prompt_len):
        token = torch.where(finished, eos, full[:, prompt_len + step])
        finished = finished | (token == eos)
        columns.append(token)
        if bool(finished.all()):
            break
    return torch.cat([full[:, :prompt_len], torch.stack(columns, dim=1)], dim=1)


def expected_tokens(model: Recorder, case: GenerationCase) -> tuple[torch.Tensor, int | None]:
    """The case's greedy tokens under contract 20, and its eos token (``None`` without one)."""
    prompt = make_prompt(case)
    full = greedy_without_cache(model, prompt, case.max_new_tokens)
    eos = None if case.eos_step < 0 else int(full[0, case.prompt_len + case.eos_step])
    return with_eos(full, case.prompt_len, eos), eos


def greedy(impl: Any, model: Recorder, case: GenerationCase, eos: int | None) -> torch.Tensor:
    model.calls.clear()
    out = impl.generate(model, make_prompt(case), case.max_new_tokens, eos_token_id=eos)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.long, f"generate returned {out!r}, not int64"
    return out


def assert_tokens(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    assert tuple(actual.shape) == tuple(expected.shape), (
        f"{what}: shape {tuple(actual.shape)}, expected {tuple(expected.shape)}: {actual.tolist()}, "
        f"expected {expected.tolist()}"
    )
    assert torch.equal(devices.to_cpu(actual), devices.to_cpu(expected)), (
        f"{what}: {actual.tolist()}, expected {expected.tolist()}"
    )


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="generation gets slower with every token, or is garbage after the first token",
    cases=generation_cases(),
    explicit=[*for_every_model(RICH), *for_every_model(STOPS)],
    max_examples=6,
)
def the_prompt_is_fed_once_then_one_token_per_step(impl: Any, case: GenerationCase) -> None:
    """The model was not fed the prompt once (with no cache) and then exactly the last emitted
    token at each step with the cache it had just returned: the whole sequence is fed again,
    the prompt is never prefilled, the cache is dropped or stale, or there are extra calls."""
    model = build_model(case)
    _, eos = expected_tokens(model, case)
    out = greedy(impl, model, case, eos)
    calls = model.calls
    steps = out.size(1) - case.prompt_len
    assert calls, "the model was never called"
    first = calls[0]
    assert first.past_kv is None, f"the first call got a cache: {first.past_kv!r}"
    assert torch.equal(first.input_ids, devices.to_cpu(make_prompt(case))), (
        f"the first call was fed {first.input_ids.tolist()}, not the prompt {make_prompt(case).tolist()}"
    )
    assert len(calls) in (steps, steps + 1), f"{len(calls)} calls for {steps} generated tokens"
    for step, (before, call) in enumerate(itertools.pairwise(calls), start=1):
        fed = devices.to_cpu(out[:, case.prompt_len + step - 1 : case.prompt_len + step])
        assert torch.equal(call.input_ids, fed), (
            f"call {step} was fed {call.input_ids.tolist()}, expected the last emitted tokens {fed.tolist()}"
        )
        assert call.past_kv is before.returned_kv, (
            f"call {step} did not get the cache the previous call returned"
        )


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="generations differ from the model's own greedy output; quality drops with the cache",
    cases=generation_cases(eos=False),
    explicit=for_every_model(RICH),
    max_examples=6,
)
def cached_greedy_decoding_equals_uncached_greedy_decoding(impl: Any, case: GenerationCase) -> None:
    """Greedy generation with the cache differs from feeding the whole sequence at every step:
    the cache, the positions or the position the next token is read from are wrong."""
    model = build_model(case)
    expected, _ = expected_tokens(model, case)
    assert_tokens(greedy(impl, model, case, None), expected, "cached greedy tokens")


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="the first generated token ignores the end of the prompt",
    cases=generation_cases(eos=False),
    explicit=for_every_model(RICH),
    max_examples=4,
)
def the_next_token_comes_from_the_last_position(impl: Any, case: GenerationCase) -> None:
    """The token generated right after the prompt is not the argmax of the logits at the
    prompt's last position: the logits are read from another position."""
    model = build_model(case)
    prompt = make_prompt(case)
    with torch.no_grad():
        logits, _ = model.model(prompt, past_kv=None)
    out = impl.generate(model, prompt, 1)
    expected = torch.cat([prompt, logits[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
    assert_tokens(out, expected, "one greedy step")


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="generations run on past the end-of-sequence token, or stop before every row has ended",
    cases=generation_cases(),
    explicit=[*for_every_model(STOPS), *for_every_model(ALONE)],
    max_examples=6,
)
def eos_stops_each_row_and_the_whole_batch(impl: Any, case: GenerationCase) -> None:
    """After a row produced eos_token_id it emitted something else, or generation went on after
    every row had produced it (or stopped earlier)."""
    model = build_model(case)
    expected, eos = expected_tokens(model, case)
    assert_tokens(greedy(impl, model, case, eos), expected, f"tokens with eos_token_id={eos}")


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="a prompt's continuation changes with the other prompts of its batch",
    cases=generation_cases(),
    explicit=[*for_every_model(STOPS)],
    max_examples=4,
)
def rows_of_a_batch_are_independent(impl: Any, case: GenerationCase) -> None:
    """A row generated in a batch differs from the same prompt generated alone: rows leak into
    each other (the wrong axis is read, or one row's end stops the others)."""
    model = build_model(case)
    _, eos = expected_tokens(model, case)
    batched = devices.to_cpu(greedy(impl, model, case, eos))
    prompt = make_prompt(case)
    for row in range(case.batch):
        alone = devices.to_cpu(
            impl.generate(model, prompt[row : row + 1], case.max_new_tokens, eos_token_id=eos)
        )
        width = alone.size(1)
        assert torch.equal(batched[row : row + 1, :width], alone), (
            f"row {row}: {batched[row].tolist()} in the batch, {alone[0].tolist()} alone"
        )
        assert eos is not None or width == batched.size(1), f"row {row}: {width} tokens alone"
        if width < batched.size(1):  # it stopped earlier alone: in the batch it repeats eos
            assert eos is not None
            assert bool((batched[row, width:] == eos).all()), (
                f"row {row} after its eos: {batched[row].tolist()}"
            )


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="generation is slow and its memory grows with every token",
    cases=generation_cases(eos=False),
    explicit=for_every_model(RICH),
    max_examples=4,
)
def no_graph_is_built(impl: Any, case: GenerationCase) -> None:
    """The model was called with autograd enabled, or the returned tokens carry a graph: every
    step records one for nothing."""
    model = build_model(case)
    with torch.enable_grad():
        out = greedy(impl, model, case, None)
    assert not out.requires_grad, "the generated tokens require grad"
    enabled = [i for i, call in enumerate(model.calls) if call.grad_enabled]
    assert not enabled, f"calls {enabled} ran with autograd enabled"


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="generation is random with dropout on, or training continues in eval mode after it",
    cases=generation_cases(eos=False),
    explicit=for_every_model(RICH),
    max_examples=4,
)
def the_model_runs_in_eval_mode_and_its_mode_is_restored(impl: Any, case: GenerationCase) -> None:
    """A call ran in train mode, or the model's train/eval mode after generate differs from
    before."""
    model = build_model(case)
    for training in (True, False):
        model.train(training)
        greedy(impl, model, case, None)
        in_train = [i for i, call in enumerate(model.calls) if call.training]
        assert not in_train, f"calls {in_train} ran in train mode"
        assert model.training is training, (
            f"the model was in {'train' if training else 'eval'} mode before, not after"
        )


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="sampled generations cannot be reproduced from a seed, or ignore temperature and top-k",
    cases=generation_cases(eos=False),
    explicit=for_every_model(RICH),
    max_examples=4,
)
def sampling_follows_contract_19(impl: Any, case: GenerationCase) -> None:
    """Sampling with top_k=1, or with a nucleus smaller than any top token's probability, is not
    greedy decoding, the same generator state gives different
    tokens, the generator is not used, or torch's global RNG is: the sampling arguments do not
    reach contract 19's `sample`."""
    model = build_model(case)
    expected, _ = expected_tokens(model, case)
    prompt = make_prompt(case)
    gen = torch.Generator(device=devices.current()).manual_seed(case.seed)
    global_before = torch.get_rng_state()
    top_1 = impl.generate(model, prompt, case.max_new_tokens, temperature=1.0, top_k=1, generator=gen)
    assert_tokens(top_1, expected, "sampling with top_k=1")
    # below the probability of any row's top token (at least 1 / vocab): the nucleus is the argmax
    tiny_nucleus = 1 / (2 * case.vocab)
    top_p = impl.generate(
        model, prompt, case.max_new_tokens, temperature=2.0, top_p=tiny_nucleus, generator=gen
    )
    assert_tokens(top_p, expected, f"sampling at temperature 2 with top_p={tiny_nucleus:.3f}")
    start = gen.get_state()
    first = impl.generate(model, prompt, case.max_new_tokens, temperature=1.5, generator=gen)
    assert not torch.equal(gen.get_state(), start), "sampling did not use the given generator"
    gen.set_state(start)
    again = impl.generate(model, prompt, case.max_new_tokens, temperature=1.5, generator=gen)
    assert torch.equal(torch.get_rng_state(), global_before), "sampling drew from torch's global RNG"
    assert_tokens(again, first, "the same generator state")


@SUITE.property(
    layer=Layer.SHAPES,
    symptom="RuntimeError: Expected all tensors to be on the same device, once the prompt is on the GPU",
    cases=generation_cases(),
    explicit=[*for_every_model(STOPS)],
    max_examples=3,
)
def tensors_are_made_on_the_prompts_device(impl: Any, case: GenerationCase) -> None:
    """Under another default device (meta) generate failed or gave other tokens: a tensor it
    makes itself (the finished rows, the eos column) has no ``device=`` and lands on torch's
    default device instead of the prompt's, which breaks a GPU run with a CPU default. Only an
    error that the same call does not raise under the usual default device counts as that."""
    model = build_model(case)
    expected, eos = expected_tokens(model, case)
    prompt = make_prompt(case)
    impl.generate(model, prompt, case.max_new_tokens, eos_token_id=eos)  # any other error: a crash
    try:
        with torch.device("meta"):  # not the prompt's device, whatever the session's is
            out = impl.generate(model, prompt, case.max_new_tokens, eos_token_id=eos)
    except (RuntimeError, NotImplementedError) as error:
        raise AssertionError(
            f"with torch's default device set to meta (and only then), generate(eos_token_id={eos}) "
            f"raised {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        ) from error
    assert out.device == prompt.device, f"the tokens are on {out.device}, the prompt on {prompt.device}"
    assert_tokens(out, expected, f"tokens under a meta default device, eos_token_id={eos}")
