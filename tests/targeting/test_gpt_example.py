"""Target mode on ``examples/mlbugs_gpt_example``: a GPT of a few hundred lines and its tests, as a
practitioner runs it, on a seeded sample of its mutants (the whole run is ``benchmarks/bench_target.py
--example mlbugs_gpt_example``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from pytest_mlbugs.mutation import Mutator
from pytest_mlbugs.registry import builtin_registry
from pytest_mlbugs.targeting.cache import TargetCache, merged
from pytest_mlbugs.targeting.mutants import resolve_targets
from tests.support.paths import GPT_EXAMPLE
from tests.support.schema import check_report

#: the sample: 10 of the example's 76 mutants, in both files, some of them survivors
SEED, COUNT = 6, 10

#: the example's suite lets these through: real bugs that it does not test for (its tests build
#: every model with dropout 0, run on the CPU only, never look at generate's grad mode, its
#: temperature, the schedule's groups or the scaler), and one equivalent mutant; every other
#: mutant of the example is detected. (file, bug ID, line)
SURVIVORS = {
    ("src/tinygpt/model.py", "pe_dropout_skipped", 84),  # the attention weights' dropout
    ("src/tinygpt/model.py", "residual_dropout_missing", 87),
    ("src/tinygpt/model.py", "residual_dropout_missing", 104),
    ("src/tinygpt/model.py", "device_hard_coded", 185),  # positions on the CPU: only CUDA shows it
    ("src/tinygpt/model.py", "pe_dropout_skipped", 188),
    ("src/tinygpt/model.py", "no_grad_missing", 228),  # generate builds a graph
    # equivalent here: without targets the forward returns the last position alone, (B, 1, V)
    ("src/tinygpt/model.py", "logits_from_first_position", 252),
    ("src/tinygpt/model.py", "temperature_multiplied", 252),
    ("src/tinygpt/model.py", "temperature_on_probabilities", 252),
    ("src/tinygpt/train.py", "lr_not_clamped_after_total", 34),
    ("src/tinygpt/train.py", "schedule_first_group_only", 57),
    ("src/tinygpt/train.py", "optimizer_step_bypasses_scaler", 69),
    ("src/tinygpt/train.py", "scaler_update_missing", 70),
    ("src/tinygpt/train.py", "generator_not_passed", 92),  # estimate_loss on the global RNG
}


def test_a_seeded_sample_of_the_gpt_examples_mutants_gets_the_verdicts_its_tests_give(tmp_path: Path) -> None:
    project = tmp_path / "example"
    shutil.copytree(GPT_EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    report = tmp_path / "report.json"
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:benchmark", "-q", "tests",
         "--mlbugs-target=src/tinygpt", f"--mlbugs-seed={SEED}", f"--mlbugs-count={COUNT}",
         f"--mlbugs-report={report}"],
        cwd=project, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert report.exists(), completed.stdout[-3000:] + completed.stderr[-3000:]
    data = json.loads(report.read_text())
    check_report(data)
    mutants = data["mlbugs"]["mutants"]
    assert (data["mlbugs"]["seed"], data["mlbugs"]["count"], len(mutants)) == (SEED, COUNT, COUNT)
    assert {m["file"] for m in mutants} == {"src/tinygpt/model.py", "src/tinygpt/train.py"}
    verdicts = {(m["file"], m["bug_id"], m["line"]): m["status"] for m in mutants}
    expected = {key: "survived" if key in SURVIVORS else "detected" for key in verdicts}
    assert verdicts == expected
    assert "survived" in verdicts.values()
    # a survivor's test ran and passed: the mutant was judged, not left without coverage
    assert all(m["detail"].endswith("test(s) passed") for m in mutants if m["status"] == "survived")
    # every detection names the test of the example that failed on it
    assert all(m["killed_by"].startswith("tests/") for m in mutants if m["status"] == "detected")
    assert completed.returncode == 1  # survivors fail their items


def test_two_searches_with_every_other_mutator_find_what_one_search_finds() -> None:
    (target,) = resolve_targets(
        [str(GPT_EXAMPLE / "src/tinygpt/model.py")], root=GPT_EXAMPLE, option="--mlbugs-target"
    )
    mutators = builtin_registry().sorted_mutators()

    search = TargetCache(None, [target], mutators)  # no pytest cache: every file is searched

    def entry(chosen: list[Mutator]) -> dict[str, Any]:
        entries, _ = search.mutant_entries(compute=True, mutators=chosen)
        return entries[next(iter(entries))]

    whole = entry(mutators)
    assert merged(entry(mutators[0::2]), entry(mutators[1::2])) == whole
    # a source that two mutators write, one in each half, is one mutant: the first bug ID's, as
    # one search keeps it (no two built-in mutators write the same mutant here any more)
    mutant = whole["mutants"][0]
    twin = {**mutant, "bug_id": "a_twin_of_" + mutant["bug_id"]}
    alone = {"problems": [], "mutants": [mutant]}
    assert merged(alone, {"problems": [], "mutants": [twin]})["mutants"] == [twin]
    assert len({m["source"] for m in whole["mutants"]}) == len(whole["mutants"])
    assert merged(whole, whole) == whole  # an entry the cache held comes back from both searches
