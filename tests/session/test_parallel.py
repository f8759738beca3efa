"""Scaling out: xdist's ``--tx`` and CI shards give the same verdicts and report as one serial run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_mlbugs.merge_reports import MergeError, merge_reports
from tests.support.schema import comparable

SESSION = (
    "--mlbugs-seed=11",
    "--mlbugs-count=9",
    "--mlbugs-max-bugs=2",
    "--mlbugs-components=attention,masks,numerics",
)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:benchmark", *args)


def _report(pytester: pytest.Pytester, name: str) -> dict:
    return json.loads(Path(pytester.path, name).read_text())


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The unsharded serial run's report, shared by the tests below (one subprocess)."""
    folder = tmp_path_factory.mktemp("serial")
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:benchmark", *SESSION]
    subprocess.run([*command, "--mlbugs-report=serial.json"], cwd=folder, capture_output=True, check=False)
    report = json.loads((folder / "serial.json").read_text())
    assert len(report["mlbugs"]["variants"]) == 9
    return report


@pytest.mark.slow
def test_merged_shards_give_the_unsharded_report(pytester, serial):
    names = []
    for index in (1, 2, 3):
        result = run(pytester, *SESSION, f"--mlbugs-shard={index}/3", f"--mlbugs-report=shard{index}.json")
        assert result.ret in (0, 1), result.stdout.str()
        result.stdout.fnmatch_lines([f"mlbugs: --mlbugs-seed=11 * --mlbugs-shard={index}/3 *"])
        names.append(f"shard{index}.json")
    shards = [_report(pytester, name) for name in names]
    # round robin: each shard a disjoint third of the session, every reference in each
    assert [len(s["mlbugs"]["variants"]) for s in shards] == [3, 3, 3]
    assert all(len(s["mlbugs"]["references"]) == 3 for s in shards)

    merged = subprocess.run(
        [sys.executable, "-m", "pytest_mlbugs.merge_reports", "merged.json", *reversed(names)],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert merged.returncode == 0, merged.stderr
    assert "merged 3 shards: 9 variants" in merged.stdout
    assert comparable(_report(pytester, "merged.json")) == comparable(serial)

    with pytest.raises(MergeError, match="shard 2/3 is missing"):
        merge_reports([shards[0], shards[2]])
    with pytest.raises(MergeError, match="shard 1/3 is given more than once"):
        merge_reports([shards[0], shards[0], shards[1], shards[2]])
    with pytest.raises(MergeError, match="not the report of a shard"):
        merge_reports([serial])
    other = json.loads(json.dumps(shards[1]))
    other["mlbugs"]["seed"] = 12
    with pytest.raises(MergeError, match="different sessions"):
        merge_reports([shards[0], other, shards[2]])


def serial_exit(report: dict) -> int:
    return 0 if report["mlbugs"]["score"] == 100.0 else 1


@pytest.mark.slow
def test_xdist_tx_popen_with_load_distribution_gives_the_serial_report(pytester, serial):
    pytest.importorskip("xdist")
    result = run(pytester, *SESSION, "--tx", "2*popen", "--dist", "load", "--mlbugs-report=tx.json")
    assert result.ret == serial_exit(serial)
    assert comparable(_report(pytester, "tx.json")) == comparable(serial)


def test_reused_workers_give_the_verdicts_of_a_fresh_fork_per_variant(pytester, serial):
    """The default (``worker``) run and ``--mlbugs-isolation=fork`` agree on every variant."""
    result = run(pytester, *SESSION, "--mlbugs-isolation=fork", "--mlbugs-report=fork.json")
    assert result.ret in (0, 1), result.stdout.str()
    forked, reused = _report(pytester, "fork.json"), serial
    assert forked["mlbugs"]["settings"].pop("isolation") == "fork"
    assert reused["mlbugs"]["settings"].get("isolation") == "worker"
    assert comparable(forked["mlbugs"]["variants"]) == comparable(reused["mlbugs"]["variants"])
    assert comparable(forked["files"]) == comparable(reused["files"])
