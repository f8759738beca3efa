"""Reports in the mutation-testing-report schema, read as a viewer reads them: valid under the
official schema (``tests/support/mutation-testing-report-schema.json``), every mutant ID unique,
and every mutant's ``replacement`` spliced into its ``location`` giving exactly the code it
stands for: the variant, or, for a variant of several bugs, the reference with that bug alone
(one mutant per bug, so that a viewer shows each change)."""

from __future__ import annotations

import collections
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from pytest_mlbugs.generator import Variant, plan_session
from pytest_mlbugs.registry import builtin_registry
from pytest_mlbugs.reports import stryker
from pytest_mlbugs.session.report import mutant_ids, variant_mutants
from pytest_mlbugs.targeting.mutants import TargetFile, mutants_of
from pytest_mlbugs.verdict import Status
from tests.support.schema import check_report, comparable, mutants, splice

REGISTRY = builtin_registry()
ALL = sorted(REGISTRY.components)
SEVERAL = (
    "--mlbugs-seed=7",
    "--mlbugs-count=40",
    "--mlbugs-max-bugs=3",
    "--mlbugs-components=attention,masks,numerics",
)
#: a selection with 11 variants in all, asked for 30: the session holds each once
SHORT = ("--mlbugs-seed=1", "--mlbugs-components=evaluation", "--mlbugs-count=30")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:benchmark", *args)


def session_report(pytester: pytest.Pytester, *args: str, name: str = "report.json") -> dict[str, Any]:
    result = run(pytester, *args, f"--mlbugs-report={name}")
    assert result.ret in (0, 1), result.stdout.str()
    return json.loads(Path(pytester.path, name).read_text())


def planned(*, seed: int, count: int | None = None, max_bugs: int = 1, components: list[str] = ALL) -> dict:
    """The session's variants by ID, planned again here: what the report's mutants must give."""
    variants = plan_session(
        REGISTRY,
        seed=seed,
        components=components,
        mutators=sorted(REGISTRY.mutators),
        count=count,
        max_bugs=max_bugs,
    )
    return {variant.digest: variant for variant in variants}


def check_changes(report: dict[str, Any], variants: dict[str, Variant]) -> None:
    """Each variant of the report is one mutant per bug, under the bug's mutator; each mutant
    spliced into the reference gives the variant (one bug) or the reference with its bug alone,
    and a variant's mutants spliced together give the variant."""
    by_id = {mutant["id"]: (path, mutant) for path, mutant in mutants(report)}
    assert len(by_id) == sum(len(v["bugs"]) for v in report["mlbugs"]["variants"])
    for entry in report["mlbugs"]["variants"]:
        variant = variants[entry["id"]]
        alone = variant.solo_sources or (variant.source,)
        found = [by_id[mutant_id] for mutant_id in mutant_ids(entry)]
        assert [m["mutatorName"] for _, m in found] == [bug.bug_id for bug in variant.bugs]
        source = REGISTRY.components[variant.component].reference_source
        for (path, mutant), expected in zip(found, alone, strict=True):
            assert path == variant.reference_path
            assert splice(source, mutant) == expected, mutant["id"]
        together = source
        starts = {
            m["id"]: (m["location"]["start"]["line"], m["location"]["start"]["column"]) for _, m in found
        }
        for _, mutant in sorted(found, key=lambda pair: starts[pair[1]["id"]], reverse=True):
            together = splice(together, mutant)  # from the last change up: earlier positions hold
        assert together == variant.source, entry["id"]


@pytest.mark.slow
def test_a_default_session_report_is_valid_and_each_mutant_is_its_variant(pytester):
    report = session_report(pytester, "--mlbugs-seed=42")
    check_report(report)
    variants = planned(seed=42)
    assert len(report["mlbugs"]["variants"]) == len(variants) == len(list(mutants(report)))
    check_changes(report, variants)


def test_a_several_bug_session_reports_each_bug_as_a_mutant_of_its_own(pytester):
    report = session_report(pytester, *SEVERAL)
    check_report(report)
    check_changes(
        report, planned(seed=7, count=40, max_bugs=3, components=["attention", "masks", "numerics"])
    )
    entries = report["mlbugs"]["variants"]
    several = [v for v in entries if len(v["bugs"]) > 1]
    assert len(several) > 10
    by_id = {mutant["id"]: mutant for _, mutant in mutants(report)}
    for entry in several:
        for number, bug in enumerate(entry["bugs"], start=1):
            mutant = by_id[f"{entry['id']}.{number}"]
            assert mutant["status"] == stryker.SCHEMA_STATUS[Status(bug["alone"])]
            assert mutant["statusReason"].startswith(
                f"bug {number} of {len(entry['bugs'])} of variant {entry['id']} ({entry['status']})"
            )
    # the score stays per variant, whatever the number of mutants
    detected = sum(v["status"] == Status.DETECTED for v in entries)
    assert report["mlbugs"]["score"] == 100.0 * detected / len(entries)


def test_a_bug_missed_alone_is_a_survivor_beside_a_detected_variant():
    variant = {
        "id": "0123456789ab",
        "component": "masks",
        "status": "detected",
        "message": "AssertionError: the mask leaks",
        "property": "causal_mask_blocks_the_future",
        "seconds": 0.25,
        "bugs": [
            {
                "id": "causal_mask_off_by_one",
                "alone": "detected",
                "caught_by": "causal_mask_blocks_the_future",
            }
            | {"location": stryker.location(3, 5, 3, 9), "replacement": "tril"},
            {"id": "masked_fill_zero", "alone": "survived", "caught_by": None}
            | {"location": stryker.location(7, 1, 7, 1), "replacement": "# x\n"},
        ],
    }
    first, second = variant_mutants(variant, registry=REGISTRY, component="masks")
    assert (first["id"], first["status"], first["killedBy"]) == (
        "0123456789ab.1",
        "Killed",
        ["masks.causal_mask_blocks_the_future"],
    )
    assert (second["id"], second["status"], second["mutatorName"]) == (
        "0123456789ab.2",
        "Survived",
        "masked_fill_zero",
    )
    assert "killedBy" not in second
    assert second["statusReason"] == (
        "bug 2 of 2 of variant 0123456789ab (detected): AssertionError: the mask leaks; "
        "alone, not caught on its own: the suite misses it once the other bugs are fixed"
    )
    assert second["location"] == stryker.location(7, 1, 7, 1) and second["replacement"] == "# x\n"
    # without a verdict alone (the variant timed out), a bug has the variant's status
    (only,) = variant_mutants(
        variant
        | {"status": "timeout", "bugs": [{k: v for k, v in variant["bugs"][1].items() if k != "alone"}]},
        registry=REGISTRY,
        component="masks",
    )
    assert (only["id"], only["status"]) == ("0123456789ab", "Timeout")


@pytest.mark.parametrize(
    ("before", "after", "replacement"),
    [
        ("x = torch.triu(m, 1)\n", "x = torch.tril(m, 1)\n", "tril"),  # whole words
        ("y = f(x)\n", "y = f(x, dim=-1)\n", ", dim=-1"),  # an insertion: an empty location
        ("a\n    x = 1\n    x = 1\nb\n", "a\n    x = 1\nb\n", ""),  # a removed line, one of two alike
        ("s = a + b\n", "s = a+b\n", "+"),
    ],
)
def test_a_change_is_a_location_and_a_replacement_that_give_the_new_text(before, after, replacement):
    where, text = stryker.change(before, after)
    assert text == replacement
    assert splice(before, {"id": "m", "location": where, "replacement": text}) == after


#: a small package: a decorator and a statement to remove, calls and operators to rewrite
OPS = textwrap.dedent(
    """
    import math

    import torch
    import torch.nn.functional as F


    def causal_mask(n):
        return torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)


    def attention_weights(q, k):
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
        scores = scores.masked_fill(causal_mask(q.size(-2)), float("-inf"))
        return F.softmax(scores, dim=-1)


    def masked_mean(values, mask):
        return (values * mask).sum(dim=-1) / mask.sum(dim=-1).clamp(min=1)


    @torch.no_grad()
    def evaluate(model, x):
        model.eval()
        return model(x).argmax(dim=-1)
    """
)
OPS_TESTS = textwrap.dedent(
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    from minipkg.ops import attention_weights, causal_mask, evaluate, masked_mean


    def test_a_position_sees_itself_and_the_past():
        assert causal_mask(3).tolist() == [[False, True, True], [False, False, True], [False, False, False]]


    def test_weights_give_what_scaled_dot_product_attention_gives():
        q, k, v = torch.randn(3, 2, 5, 4).unbind(0)
        expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        torch.testing.assert_close(attention_weights(q, k) @ v, expected)


    def test_padding_does_not_count():
        values = torch.tensor([[1.0, 3.0, 100.0]])
        torch.testing.assert_close(masked_mean(values, torch.tensor([[1.0, 1.0, 0.0]])), torch.tensor([2.0]))


    def test_evaluation_predicts_a_class_per_row_in_eval_mode():
        model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5))
        with torch.enable_grad():
            predictions = evaluate(model, torch.randn(6, 3))
        assert predictions.shape == (6,) and not model.training and not predictions.requires_grad
    """
)


def test_a_target_mode_report_is_valid_and_each_mutant_is_the_file_with_its_change(pytester):
    pytester.mkpydir("minipkg")
    target = pytester.path / "minipkg" / "ops.py"
    target.write_text(OPS)
    pytester.makepyfile(test_ops=OPS_TESTS)
    result = run(pytester, "--mlbugs-target=minipkg/ops.py", "--mlbugs-report=report.json")
    assert result.ret in (0, 1), result.stdout.str()
    report = json.loads(Path(pytester.path, "report.json").read_text())
    check_report(report)
    file = report["files"]["minipkg/ops.py"]
    assert file["source"] == OPS and len(file["mutants"]) > 10
    made, problems = mutants_of(
        TargetFile(target, "minipkg/ops.py", OPS),
        list(REGISTRY.mutators.values()),
        module_label="minipkg.ops",
    )
    assert not problems
    assert {splice(OPS, mutant) for mutant in file["mutants"]} == {mutant.source for mutant in made}


@pytest.mark.slow
def test_merged_shards_of_a_session_that_ran_out_of_variants_give_a_valid_serial_report(pytester):
    serial = session_report(pytester, *SHORT, name="serial.json")
    names = []
    for index in (1, 2):
        session_report(pytester, *SHORT, f"--mlbugs-shard={index}/2", name=f"shard{index}.json")
        names.append(f"shard{index}.json")
    merged = subprocess.run(
        [sys.executable, "-m", "pytest_mlbugs.merge_reports", "merged.json", *names],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert merged.returncode == 0, merged.stderr
    report = json.loads(Path(pytester.path, "merged.json").read_text())
    check_report(serial)
    check_report(report)
    assert comparable(report) == comparable(serial)
    variants = planned(seed=1, count=30, components=["evaluation"])
    assert len(variants) == len(report["mlbugs"]["variants"]) < 30
    check_changes(report, variants)


@pytest.mark.slow
def test_a_session_of_two_thousand_variants_holds_each_once_and_its_report_is_valid(pytester):
    result = run(pytester, "--mlbugs-seed=7", "--mlbugs-count=2000", "--mlbugs-report=report.json")
    assert result.ret in (0, 1), result.stdout.str()
    result.stdout.fnmatch_lines(
        ["* of 2000 variants carry 2 to * bugs: the selection has only * distinct single-bug variants *"]
    )
    report = json.loads(Path(pytester.path, "report.json").read_text())
    check_report(report)
    entries = report["mlbugs"]["variants"]
    assert len(entries) == len({v["id"] for v in entries}) == 2000
    variants = planned(seed=7, count=2000)
    assert len({(v.component, v.source) for v in variants.values()}) == 2000
    check_changes(report, variants)
    assert collections.Counter(len(v["bugs"]) for v in entries) == collections.Counter(
        len(v.bugs) for v in variants.values()
    )
