"""Contract 19: the sampling reference against hand-computed filters, the suite against other
correct styles, and hand-written bugs that no mutator writes."""

from __future__ import annotations

import math
import types

import pytest
import torch

from pytest_mlbugs.judging import check_property
from pytest_mlbugs.properties.sampling import SUITE
from pytest_mlbugs.reference_impls import sampling as reference

INF = float("inf")


def test_process_logits_matches_a_hand_computed_filter():
    # probabilities of [2, 1, 0] are 0.665, 0.245, 0.090: the nucleus of 0.8 is the first two
    logits = torch.tensor([[2.0, -1.0, 1.0, 0.0]])
    out = reference.process_logits(logits, temperature=1.0, top_k=3, top_p=0.8)
    assert out.tolist() == [[2.0, -INF, 1.0, -INF]]
    weights = [math.exp(v) for v in (2.0, 1.0, 0.0)]
    assert weights[0] / sum(weights) < 0.8 < (weights[0] + weights[1]) / sum(weights)


def test_temperature_divides_the_logits_before_the_filters():
    logits = torch.tensor([[3.0, 2.0, 0.0]])
    out = reference.process_logits(logits, temperature=0.5, top_k=2)
    assert out.tolist() == [[6.0, 4.0, -INF]]
    # at temperature 0.5 the top token alone has 0.88 > 0.85: nothing else is kept
    assert reference.process_logits(logits, temperature=0.5, top_p=0.85).isfinite().tolist() == [
        [True, False, False]
    ]


def test_greedy_and_unfiltered_sampling():
    logits = torch.tensor([[0.1, 3.0, -2.0], [5.0, 4.0, 0.0]])
    assert reference.sample(logits, temperature=0.0).tolist() == [1, 0]
    assert torch.equal(reference.process_logits(logits, 1.0, None, 1.0), logits)
    gen = torch.Generator().manual_seed(0)
    tokens = reference.sample(logits.repeat(500, 1), 1.0, top_k=2, generator=gen)
    assert set(tokens.tolist()) <= {0, 1}


# ---------------------------------------------------------------------------------------------
# other correct styles


def _warper_process_logits(logits, temperature=1.0, top_k=None, top_p=None):
    """Hugging Face's warpers: threshold from topk's values, an ascending sort for top-p that
    removes the tail whose mass is at most 1 - top_p, and always keeps the last (top) token."""
    scores = logits / temperature
    if top_k is not None:
        k = min(top_k, scores.size(-1))
        scores = scores.masked_fill(scores < torch.topk(scores, k)[0][..., -1, None], -INF)
    if top_p is not None:
        sorted_logits, sorted_indices = torch.sort(scores, descending=False)
        cumulative_probs = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        sorted_to_remove = cumulative_probs <= (1 - top_p)
        sorted_to_remove[..., -1:] = False
        scores = scores.masked_fill(sorted_to_remove.scatter(1, sorted_indices, sorted_to_remove), -INF)
    return scores


def _warper_sample(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    """Greedy through max(); one draw per row, each its own multinomial call."""
    if temperature == 0:
        return logits.max(dim=-1).indices
    probs = _warper_process_logits(logits, temperature, top_k, top_p).softmax(-1)
    return torch.cat([torch.multinomial(row, 1, generator=generator) for row in probs])


def _llama_process_logits(logits, temperature=1.0, top_k=None, top_p=None):
    """Meta's sample_top_p on probabilities (mass before each token compared with p), top-k via
    gather of the sorted order, the filtered logits written with torch.where."""
    scaled = logits.div(temperature)
    keep = torch.ones_like(scaled, dtype=torch.bool)
    order = scaled.argsort(dim=-1, descending=True)
    rank = torch.empty_like(order).scatter_(-1, order, torch.arange(scaled.size(-1)).expand_as(order))
    if top_k is not None:
        keep &= rank < top_k
    if top_p is not None:
        masked = torch.where(keep, scaled, torch.tensor(-INF))
        probs_sort = masked.softmax(-1).gather(-1, order)
        probs_sum = probs_sort.cumsum(dim=-1)
        inside = ~(probs_sum - probs_sort > top_p)
        keep &= inside.gather(-1, rank)
    return torch.where(keep, scaled, torch.tensor(-INF))


def _llama_sample(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    if not temperature:
        return torch.argmax(logits, -1)
    probs = torch.nn.functional.softmax(_llama_process_logits(logits, temperature, top_k, top_p), dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).view(-1)


ALTERNATIVES = {
    "reference": reference,
    "warpers": types.SimpleNamespace(process_logits=_warper_process_logits, sample=_warper_sample),
    "llama": types.SimpleNamespace(process_logits=_llama_process_logits, sample=_llama_sample),
}


@pytest.mark.parametrize("impl_name", sorted(ALTERNATIVES))
@pytest.mark.parametrize("prop", SUITE.properties, ids=lambda p: p.name)
def test_every_correct_style_passes_every_property(impl_name, prop):
    assert check_property(prop, ALTERNATIVES[impl_name], seed=0) is None


# ---------------------------------------------------------------------------------------------
# hand-written bugs


def _nucleus_of_unfiltered_logits(logits, temperature=1.0, top_k=None, top_p=None):
    """The nucleus is computed from the softmax of the logits before top-k removed anything."""
    scaled = logits / temperature
    out = _warper_process_logits(logits, temperature, top_k, None)
    if top_p is not None:
        sorted_logits, sorted_indices = torch.sort(scaled, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        outside = cumulative - sorted_logits.softmax(-1) >= top_p
        out = out.masked_fill(outside.scatter(1, sorted_indices, outside), -INF)
    return out


def _finfo_fill(logits, temperature=1.0, top_k=None, top_p=None):
    """Filtered logits set to the most negative float instead of -inf."""
    out = _warper_process_logits(logits, temperature, top_k, top_p)
    return out.masked_fill(out.isinf(), torch.finfo(out.dtype).min)


def _filters_not_applied(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    """sample() forgets to pass top_k and top_p on."""
    if temperature == 0:
        return logits.argmax(-1)
    return torch.multinomial(_warper_process_logits(logits, temperature).softmax(-1), 1, generator=generator)[
        :, 0
    ]


def _gumbel_without_generator(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    """The exponential-race trick (gpt-fast) drawn from the global RNG."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = _warper_process_logits(logits, temperature, top_k, top_p).softmax(-1)
    return torch.argmax(probs / torch.empty_like(probs).exponential_(1), dim=-1)


@pytest.mark.parametrize(
    "broken, failing",
    [
        (
            types.SimpleNamespace(process_logits=_nucleus_of_unfiltered_logits, sample=_warper_sample),
            "the_nucleus_is_taken_after_top_k",
        ),
        (
            types.SimpleNamespace(process_logits=_finfo_fill, sample=_warper_sample),
            "process_logits_matches_a_brute_force_filter",
        ),
        (
            types.SimpleNamespace(process_logits=_warper_process_logits, sample=_filters_not_applied),
            "every_draw_lies_within_the_top_k_and_the_nucleus",
        ),
        (
            types.SimpleNamespace(process_logits=_warper_process_logits, sample=_gumbel_without_generator),
            "draws_come_from_the_given_generator_only",
        ),
    ],
    ids=["nucleus_before_top_k", "finfo_fill", "filters_not_passed", "gumbel_global_rng"],
)
def test_hand_written_bugs_are_rejected(broken, failing):
    prop = next(p for p in SUITE.properties if p.name == failing)
    assert check_property(prop, broken, seed=0) is not None
