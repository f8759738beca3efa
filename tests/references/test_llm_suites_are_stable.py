"""No property of contracts 19-24 flakes: the same verdicts under 20 different seeds.

The sampling suite draws (with a generator seeded from each case) and compares frequencies
with six-standard-deviation bounds; the checkpoint suite writes and removes files; generation
runs a test double. Each reference must pass its whole suite under every seed, and a variant
of each suite's first mutator must be detected under every seed too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from pytest_mlbugs.generator import all_single_bug_variants
from pytest_mlbugs.isolation import run_isolated
from pytest_mlbugs.judging import judge_planned, judge_reference
from pytest_mlbugs.registry import builtin_registry
from pytest_mlbugs.seeds import derive_seed
from pytest_mlbugs.verdict import Status

COMPONENTS = ("sampling", "generation", "schedule", "amp", "checkpoint", "collate")
SEEDS = [derive_seed("stability", n) for n in range(20)]
REGISTRY = builtin_registry()


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny tensors, as in a session's workers: OpenMP threads only contend for the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", COMPONENTS)
def test_every_reference_passes_under_twenty_seeds(name):
    component = REGISTRY.components[name]
    verdicts = {
        seed: judge_reference(component, module_name=f"_mlbugs_stable_{name}_{i}", seed=seed)
        for i, seed in enumerate(SEEDS)
    }
    failed = {seed: (v.detail, v.failures) for seed, v in verdicts.items() if v.status != Status.PASSED}
    assert not failed, failed


@pytest.mark.parametrize("name", COMPONENTS)
def test_a_variant_is_detected_under_twenty_seeds(name):
    variant = next(v for v in all_single_bug_variants(REGISTRY, [name]))

    def job_for(seed):
        return lambda: judge_planned(REGISTRY, variant, seed=seed)

    statuses = {seed: run_isolated(job_for(seed), timeout=120, isolation="none").status for seed in SEEDS}
    assert set(statuses.values()) == {Status.DETECTED}, (variant.label, statuses)
