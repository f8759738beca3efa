"""Next-token logits for the sampling suite (contract 19).

A case carries integers only: the batch and vocabulary sizes, the filters as small integers
(``top_k`` 0 for none, ``top_p`` in percent, 0 for none) and a seed. :func:`make_logits` builds
logits the pinned details allow: distinct entries, and cumulative probabilities (after the
temperature and top-k) at least :data:`TOP_P_MARGIN` away from ``top_p``, so that no correct
implementation can disagree with another on which tokens form the nucleus.
"""

from __future__ import annotations

import dataclasses

import torch
from hypothesis import strategies as st

from pytest_mlbugs.strategies.tensors import generator, normal, seeds

#: the closest a cumulative probability may come to ``top_p`` (contract 19's pinned details)
TOP_P_MARGIN = 1e-3
#: the smallest probability allowed where ``top_p=1.0`` is checked
TOP_P_ONE_FLOOR = 1e-4
#: temperatures a case may use, by index: colder and warmer than 1
TEMPERATURES = (0.5, 0.8, 1.0, 1.5, 2.0)


@dataclasses.dataclass(frozen=True)
class SamplingCase:
    batch: int
    vocab: int
    #: index into :data:`TEMPERATURES`
    temperature_index: int
    #: 0 for no top-k filter
    top_k: int
    #: the nucleus in percent, 0 for no top-p filter
    top_p_percent: int
    #: spread of the logits: larger values give peakier distributions
    scale_tenths: int
    seed: int

    @property
    def temperature(self) -> float:
        return TEMPERATURES[self.temperature_index]

    @property
    def k(self) -> int | None:
        return self.top_k or None

    @property
    def p(self) -> float | None:
        return self.top_p_percent / 100 if self.top_p_percent else None


def sampling_cases(
    *,
    max_batch: int = 3,
    min_vocab: int = 4,
    max_vocab: int = 12,
    top_k: bool = True,
    top_p: bool = True,
) -> st.SearchStrategy[SamplingCase]:
    """Cases with an optional top-k (sometimes larger than the vocabulary) and an optional
    nucleus; ``top_k=False`` or ``top_p=False`` leave that filter off."""
    if max_batch < 1 or not 2 <= min_vocab <= max_vocab:
        raise ValueError(f"need max_batch >= 1 and 2 <= min_vocab <= max_vocab, got {max_batch}, {min_vocab}")

    @st.composite
    def draw(draw_: st.DrawFn) -> SamplingCase:
        vocab = draw_(st.integers(min_vocab, max_vocab))
        return SamplingCase(
            batch=draw_(st.integers(1, max_batch)),
            vocab=vocab,
            temperature_index=draw_(st.integers(0, len(TEMPERATURES) - 1)),
            top_k=draw_(st.integers(1, vocab + 2)) if top_k and draw_(st.booleans()) else 0,
            top_p_percent=draw_(st.sampled_from((30, 50, 75, 90))) if top_p and draw_(st.booleans()) else 0,
            scale_tenths=draw_(st.integers(10, 30)),
            seed=draw_(seeds()),
        )

    return draw()


def nucleus_margin(logits: torch.Tensor, case: SamplingCase) -> float:
    """How close any row's cumulative probability (after the temperature and top-k, in
    descending order) comes to the case's ``top_p``; infinite without a nucleus."""
    if case.p is None:
        return float("inf")
    scaled = logits.double() / case.temperature
    if case.k is not None and case.k < case.vocab:
        kth = scaled.topk(case.k, dim=-1).values[:, -1:]
        scaled = scaled.masked_fill(scaled < kth, float("-inf"))
    cumulative = scaled.softmax(-1).sort(dim=-1, descending=True).values.cumsum(-1)
    return float((cumulative - case.p).abs().min())


def make_logits(case: SamplingCase) -> torch.Tensor:
    """(B, V) float32 logits from the case's seed that respect the pinned details: distinct
    entries and no cumulative probability within :data:`TOP_P_MARGIN` of ``top_p`` (later
    draws of the same generator are tried until one does; the choice is deterministic)."""
    gen = generator(case.seed)
    for _ in range(1000):
        logits = normal(gen, (case.batch, case.vocab), scale=case.scale_tenths / 10)
        distinct = all(len(set(row.tolist())) == case.vocab for row in logits)
        if distinct and nucleus_margin(logits, case) >= TOP_P_MARGIN:
            return logits
    raise AssertionError(f"no logits for {case} keep their cumulative probabilities away from top_p")


def flat_logits(case: SamplingCase) -> torch.Tensor:
    """(B, V) logits whose every probability, at the case's temperature, is above
    :data:`TOP_P_ONE_FLOOR`: where ``top_p=1.0`` must keep everything (pinned details)."""
    gen = generator(case.seed)
    for _ in range(1000):
        logits = normal(gen, (case.batch, case.vocab))
        if float((logits / case.temperature).softmax(-1).min()) > TOP_P_ONE_FLOOR:
            return logits
    raise AssertionError(f"no flat logits for {case}")


def peaked_logits(case: SamplingCase) -> torch.Tensor:
    """(B, V) logits, V >= 3: in every row a top token at 2, a second at 1 and the rest spread
    over (0, 0.9), in an order drawn from the seed. Top-k with k = 2 then renormalizes the top
    token's probability from well below one half to sigmoid(1 / T) (0.62 to 0.88 here)."""
    if case.vocab < 3:
        raise ValueError(f"peaked logits need a vocabulary of at least 3, got {case.vocab}")
    gen = generator(case.seed)
    rows = []
    for _ in range(case.batch):
        tail = torch.rand(case.vocab - 2, generator=gen) * 0.9
        row = torch.cat([torch.tensor([2.0, 1.0]), tail])
        rows.append(row[torch.randperm(case.vocab, generator=gen)])
    return torch.stack(rows)
