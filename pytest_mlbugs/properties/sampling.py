"""Contract 19: ``sampling.process_logits`` and ``sampling.sample``.

The oracle is a brute-force filter written token by token in float64: sort, keep the top k,
then walk down the sorted probabilities until the nucleus reaches ``top_p``. Everything that
does not need a draw is checked exactly (which entries survive, the ``-inf``, the argmax).
Draws use a generator seeded from the case, and are compared with the filtered distribution,
never with another implementation's tokens: how a correct file consumes its generator is its
own choice (contract 19's pinned details). Statistical checks allow six standard deviations,
so a correct implementation fails one with a probability below one in a hundred million.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from pytest_mlbugs import devices
from pytest_mlbugs.mutation import Layer
from pytest_mlbugs.properties.training import prefixed
from pytest_mlbugs.strategies.sampling import (
    SamplingCase,
    flat_logits,
    make_logits,
    peaked_logits,
    sampling_cases,
)
from pytest_mlbugs.suite import Suite

SUITE = Suite(
    "sampling",
    names=("process_logits", "sample"),
    contract="contract 19: process_logits, sample",
)

#: every filter at once, a temperature below 1, a nucleus that cuts inside the top k
RICH = SamplingCase(batch=2, vocab=8, temperature_index=1, top_k=5, top_p_percent=75, scale_tenths=20, seed=3)
#: a nucleus alone, peaky logits: the top token alone often exceeds top_p
PEAKY = SamplingCase(
    batch=3, vocab=6, temperature_index=0, top_k=0, top_p_percent=30, scale_tenths=30, seed=4
)
#: top-k alone, larger than half the vocabulary
TOP_K = SamplingCase(batch=2, vocab=7, temperature_index=3, top_k=4, top_p_percent=0, scale_tenths=15, seed=5)
#: draws per row in the statistical properties
DRAWS = 2000
ATOL = 1e-6
RTOL = 1e-5


def brute_force_keep(
    logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None
) -> torch.Tensor:
    """(B, V) bool: the tokens contract 19 keeps, decided one token at a time in float64."""
    keep = torch.zeros(logits.shape, dtype=torch.bool)
    for b, row in enumerate(devices.to_cpu(logits).double() / temperature):
        order = sorted(range(len(row)), key=lambda v: -float(row[v]))
        kept = order if top_k is None else order[:top_k]
        if top_p is not None:
            weights = [math.exp(float(row[v]) - float(row[kept[0]])) for v in kept]
            total, mass, nucleus = sum(weights), 0.0, []
            for token, weight in zip(kept, weights, strict=True):
                nucleus.append(token)
                mass += weight / total
                if mass >= top_p:
                    break
            kept = nucleus
        keep[b, kept] = True
    return keep


def oracle_probabilities(logits: torch.Tensor, case: SamplingCase) -> torch.Tensor:
    """(B, V) float64 probabilities of each token under contract 19, on the CPU."""
    keep = brute_force_keep(logits, case.temperature, case.k, case.p)
    scaled = (devices.to_cpu(logits).double() / case.temperature).masked_fill(~keep, float("-inf"))
    return scaled.softmax(-1)


def global_rng_states() -> list[torch.Tensor]:
    """torch's global generators: the CPU one, and the CUDA one on a CUDA session."""
    states = [torch.get_rng_state()]
    if devices.current().type == "cuda":
        states.append(torch.cuda.get_rng_state(devices.current()))
    return states


def case_generator(case: SamplingCase, offset: int = 0) -> torch.Generator:
    return torch.Generator(device=devices.current()).manual_seed(case.seed + offset)


def draws(impl: Any, logits: torch.Tensor, case: SamplingCase, repeats: int) -> torch.Tensor:
    """(B, repeats) tokens: each row of ``logits`` sampled ``repeats`` times in one call."""
    many = devices.put(logits.repeat_interleave(repeats, dim=0))  # (B * repeats, V)
    tokens = impl.sample(many, case.temperature, case.k, case.p, generator=case_generator(case))
    assert tuple(tokens.shape) == (len(many),), (
        f"sample returned shape {tuple(tokens.shape)} for {len(many)} rows"
    )
    assert tokens.dtype == torch.long, f"sample returned {tokens.dtype}, not int64"
    return devices.to_cpu(tokens).view(case.batch, repeats)


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="generations are too random or too repetitive; unlikely tokens slip in",
    cases=sampling_cases(),
    explicit=[RICH, PEAKY, TOP_K],
    max_examples=12,
)
def process_logits_matches_a_brute_force_filter(impl: Any, case: SamplingCase) -> None:
    """The processed logits differ from a brute-force filter: the temperature is applied to
    the wrong thing or the wrong way, top-k keeps other tokens, the nucleus keeps one token
    too many or too few, or a filtered token is not exactly -inf (0 still has probability)."""
    logits = make_logits(case)
    out = impl.process_logits(devices.put(logits), case.temperature, case.k, case.p)
    assert tuple(out.shape) == tuple(logits.shape), (
        f"shape {tuple(out.shape)}, expected {tuple(logits.shape)}"
    )
    out = devices.to_cpu(out).double()
    keep = brute_force_keep(logits, case.temperature, case.k, case.p)
    filtered = out[~keep]
    assert bool((filtered == float("-inf")).all()), (
        f"filtered entries must be -inf, got {filtered.tolist()} (kept: {keep.tolist()})"
    )
    torch.testing.assert_close(out[keep], logits.double()[keep] / case.temperature, atol=ATOL, rtol=RTOL)


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="generations contain tokens that top-k or top-p should have excluded",
    cases=sampling_cases(),
    explicit=[RICH, PEAKY, TOP_K],
    max_examples=8,
)
def every_draw_lies_within_the_top_k_and_the_nucleus(impl: Any, case: SamplingCase) -> None:
    """A sampled token lies outside the top k or outside the nucleus: the filters do not
    reach the draw, or a filtered token kept some probability."""
    logits = make_logits(case)
    tokens = draws(impl, logits, case, repeats=64)
    keep = brute_force_keep(logits, case.temperature, case.k, case.p)
    for b in range(case.batch):
        outside = sorted({int(t) for t in tokens[b] if not keep[b, t]})
        assert not outside, (
            f"row {b} drew tokens {outside}, outside the allowed {keep[b].nonzero().flatten().tolist()}"
        )


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="with a tight top_p the model produces garbage or NaN instead of its best token",
    cases=sampling_cases(top_p=False),
    explicit=[PEAKY, RICH],
    max_examples=8,
)
def the_most_probable_token_is_always_kept(impl: Any, case: SamplingCase) -> None:
    """With a nucleus smaller than the most probable token's own probability, or top_k=1,
    the most probable token was filtered out or something else was kept."""
    logits = make_logits(case)
    best = logits.argmax(dim=-1)  # (B,)
    top_probability = float((logits / case.temperature).softmax(-1).max(dim=-1).values.min())
    for top_k, top_p in ((1, None), (None, top_probability / 2), (case.k, top_probability / 2)):
        out = devices.to_cpu(impl.process_logits(devices.put(logits), case.temperature, top_k, top_p))
        kept = [row.isfinite().nonzero().flatten().tolist() for row in out]
        assert kept == [[int(token)] for token in best], (
            f"top_k={top_k}, top_p={top_p}: kept {kept}, expected only the argmax {best.tolist()}"
        )


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="with top-k and top-p together the nucleus keeps more tokens than asked",
    cases=sampling_cases(top_k=False, top_p=False, min_vocab=5),
    explicit=[TOP_K],
    max_examples=5,
)
def the_nucleus_is_taken_after_top_k(impl: Any, case: SamplingCase) -> None:
    """With top_k=2 and a top_p between the top token's probability before and after top-k,
    more than the top token survived: the nucleus was computed from the softmax of the logits
    before top-k (or before the temperature), not from what the previous steps left."""
    logits = peaked_logits(case)
    scaled = logits.double() / case.temperature
    before = scaled.softmax(-1).max(-1).values
    after = scaled.topk(2, dim=-1).values.softmax(-1)[:, 0]
    top_p = float(before.max() + after.min()) / 2
    out = devices.to_cpu(impl.process_logits(devices.put(logits), case.temperature, 2, top_p))
    kept = [row.isfinite().nonzero().flatten().tolist() for row in out]
    best = logits.argmax(dim=-1)
    assert kept == [[int(token)] for token in best], (
        f"top_k=2, top_p={top_p:.3f}: kept {kept}; after top-k the top token alone has {after.tolist()}"
    )


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="temperature has no effect, or a low temperature makes text more random",
    cases=sampling_cases(top_p=False),
    explicit=[TOP_K, RICH],
    max_examples=8,
)
def a_colder_temperature_is_strictly_sharper(impl: Any, case: SamplingCase) -> None:
    """The most probable token's probability after processing does not strictly grow as
    the temperature falls (with the case's top-k too): the temperature is applied to the
    probabilities, inverted, or not at all."""
    logits = make_logits(case)
    top_k = None if case.k is None else max(case.k, 2)  # one token alone has probability 1
    peaks = []
    for temperature in (2.0, 1.0, 0.5):
        out = devices.to_cpu(impl.process_logits(devices.put(logits), temperature, top_k, None)).double()
        peaks.append(out.softmax(-1).max(dim=-1).values)
    for warmer, colder, temperatures in ((peaks[0], peaks[1], "2 -> 1"), (peaks[1], peaks[2], "1 -> 0.5")):
        assert bool((colder > warmer).all()), (
            f"temperature {temperatures}: top probability {warmer.tolist()} -> {colder.tolist()}, not sharper"
        )


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="greedy decoding (temperature 0) is random, crashes, or differs from run to run",
    cases=sampling_cases(),
    explicit=[RICH, PEAKY],
    max_examples=6,
)
def temperature_zero_is_the_argmax_without_randomness(impl: Any, case: SamplingCase) -> None:
    """sample(temperature=0) did not return the argmax of every row, or it drew from a
    generator (the given one or torch's global one): greedy decoding must not be random."""
    logits = make_logits(case)
    gen = case_generator(case)
    before, global_before = gen.get_state(), global_rng_states()
    tokens = impl.sample(devices.put(logits), 0.0, case.k, case.p, generator=gen)
    assert torch.equal(devices.to_cpu(tokens), logits.argmax(dim=-1)), (
        f"greedy tokens {tokens.tolist()}, argmax {logits.argmax(-1).tolist()}"
    )
    assert torch.equal(gen.get_state(), before), "temperature 0 drew from the generator"
    assert all(map(torch.equal, global_rng_states(), global_before)), (
        "temperature 0 drew from torch's global RNG"
    )


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="sampling without filters still drops tokens: the model's diversity shrinks",
    cases=sampling_cases(top_k=False, top_p=False),
    max_examples=6,
)
def no_filter_keeps_every_token(impl: Any, case: SamplingCase) -> None:
    """With top_p=1.0 and top_k=None, or top_k at least the vocabulary size, a token was
    filtered or a logit changed beyond the temperature."""
    logits = flat_logits(case)
    expected = logits / case.temperature
    for top_k, top_p in ((None, None), (None, 1.0), (case.vocab, None), (case.vocab + 3, 1.0)):
        out = devices.to_cpu(impl.process_logits(devices.put(logits), case.temperature, top_k, top_p))
        torch.testing.assert_close(
            out, expected, atol=ATOL, rtol=RTOL, msg=prefixed(f"top_k={top_k}, top_p={top_p}")
        )


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="a call without sampling arguments sharpens, flattens or filters the distribution",
    cases=sampling_cases(top_k=False, top_p=False),
    explicit=[RICH],
    max_examples=4,
)
def the_defaults_are_temperature_one_and_no_filter(impl: Any, case: SamplingCase) -> None:
    """process_logits(logits) changed the logits, or sample(logits, generator=g) drew other
    tokens than sample(logits, 1.0, None, None, generator=g) from the same generator state:
    a default of contract 19 (temperature 1.0, top_k and top_p None) is something else."""
    logits = make_logits(case)
    out = devices.to_cpu(impl.process_logits(devices.put(logits)))
    torch.testing.assert_close(out, logits, atol=ATOL, rtol=RTOL, msg=prefixed("process_logits(logits)"))
    many = devices.put(logits.repeat_interleave(32, dim=0))  # (B * 32, V): many draws, one call
    gen = case_generator(case)
    start = gen.get_state()
    by_default = impl.sample(many, generator=gen)
    gen.set_state(start)
    explicit = impl.sample(many, 1.0, None, None, generator=gen)
    assert torch.equal(by_default, explicit), (
        f"sample with its defaults drew {by_default.tolist()}, with temperature 1.0 and no filter "
        f"{explicit.tolist()} from the same generator state"
    )


@SUITE.property(
    layer=Layer.NUMERICS,
    symptom="NaN probabilities or a crash in torch.multinomial",
    cases=sampling_cases(),
    explicit=[PEAKY],
    max_examples=6,
)
def filtered_probabilities_sum_to_one(impl: Any, case: SamplingCase) -> None:
    """The softmax of the processed logits is not a distribution on every row (NaN, or a row
    with nothing left): the filter removed every token."""
    logits = make_logits(case)
    probs = (
        devices.to_cpu(impl.process_logits(devices.put(logits), case.temperature, case.k, case.p))
        .double()
        .softmax(-1)
    )
    assert not bool(probs.isnan().any()), f"NaN probabilities: {probs.tolist()}"
    torch.testing.assert_close(probs.sum(-1), torch.ones(case.batch, dtype=torch.float64), atol=1e-9, rtol=0)


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="generations cannot be reproduced from a seed, and sampling shifts other random draws",
    cases=sampling_cases(),
    explicit=[RICH],
    max_examples=6,
)
def draws_come_from_the_given_generator_only(impl: Any, case: SamplingCase) -> None:
    """Sampling left the given generator untouched, or touched torch's global RNG, or the same
    generator state gave different tokens: the draw ignores `generator`."""
    logits = devices.put(make_logits(case).repeat_interleave(8, dim=0))
    global_before = global_rng_states()
    gen = case_generator(case)
    start = gen.get_state()
    first = impl.sample(logits, case.temperature, case.k, case.p, generator=gen)
    assert not torch.equal(gen.get_state(), start), "the given generator was not used"
    gen.set_state(start)
    again = impl.sample(logits, case.temperature, case.k, case.p, generator=gen)
    assert all(map(torch.equal, global_rng_states(), global_before)), "sampling drew from torch's global RNG"
    assert torch.equal(first, again), (
        f"the same generator state gave {first.tolist()} and then {again.tolist()}"
    )


@SUITE.property(
    layer=Layer.EVALUATION,
    symptom="generations are too random or too repetitive although every filter looks right",
    cases=sampling_cases(),
    explicit=[RICH, TOP_K],
    max_examples=4,
)
def draws_follow_the_filtered_distribution(impl: Any, case: SamplingCase) -> None:
    """The frequencies of many draws differ from the softmax of the filtered logits by more
    than six standard deviations: the draw reads the wrong probabilities (the softmax over
    the wrong axis, the unfiltered logits, or the temperature lost on the way)."""
    logits = make_logits(case)
    expected = oracle_probabilities(logits, case)  # (B, V)
    tokens = draws(impl, logits, case, repeats=DRAWS)
    frequencies = torch.stack([torch.bincount(row, minlength=case.vocab) for row in tokens]).double() / DRAWS
    allowed = 6 * (expected * (1 - expected) / DRAWS).sqrt() + 1.0 / DRAWS
    worst = float(((frequencies - expected).abs() - allowed).max())
    assert worst <= 0, (
        f"draw frequencies {frequencies.tolist()} differ from the probabilities {expected.tolist()}"
    )
