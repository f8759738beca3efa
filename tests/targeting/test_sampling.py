"""--mlbugs-count in target mode: the seed chooses the mutants as every other choice is made."""

from __future__ import annotations

import random
from pathlib import Path

from pytest_mlbugs.targeting.mutants import Mutant, TargetFile, sample

TARGET = TargetFile(Path("/project/model.py"), "model.py", "x = 1\n")


def _mutants(n: int) -> list[Mutant]:
    return [
        Mutant(f"model.py:bug_{i % 7}:{i}", TARGET, f"bug_{i % 7}", i, f"x = {i}\n", "", (1,), False)
        for i in range(n)
    ]


def test_the_same_seed_samples_the_same_mutants_whatever_the_global_random_state():
    mutants = _mutants(40)
    random.seed(1)
    first = sample(mutants, 10, seed=5)
    random.seed(2)
    second = sample(mutants, 10, seed=5)
    assert [m.id for m in first] == [m.id for m in second]
    assert len(first) == 10


def test_another_seed_samples_others_and_the_order_of_the_list_does_not_matter():
    mutants = _mutants(40)
    chosen = {m.id for m in sample(mutants, 10, seed=5)}
    assert {m.id for m in sample(mutants, 10, seed=6)} != chosen
    assert {m.id for m in sample(list(reversed(mutants)), 10, seed=5)} == chosen


def test_the_sample_keeps_the_mutants_in_their_order_and_no_count_keeps_all():
    mutants = _mutants(12)
    ids = [m.id for m in mutants]
    picked = [m.id for m in sample(mutants, 5, seed=0)]
    assert picked == [i for i in ids if i in picked]
    assert sample(mutants, None, seed=0) == mutants
    assert sample(mutants, 50, seed=0) == mutants
