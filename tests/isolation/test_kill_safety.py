"""Data safety: a seeded session killed with SIGKILL at random moments loses nothing.

After every kill, each user file is byte for byte what it was, the ``--mlbugs-report`` file is
absent, the previous report, or a complete new one (never torn), and the next run works.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_mlbugs.isolation.sandbox import SCRATCH_ROOT
from pytest_mlbugs.registry import builtin_registry

SESSION = ("--mlbugs-seed=3", "--mlbugs-components=attention,masks", "--mlbugs-report=report.json")
VARIANTS = len(builtin_registry().mutators_for("attention")) + len(builtin_registry().mutators_for("masks"))

#: what an earlier run left: a report of ours (a run may replace it, never tear it)
OLD_REPORT = json.dumps({"schemaVersion": "2", "files": {}, "mlbugs": {"seed": 0, "variants": []}}).encode()


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _start(folder: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:benchmark", *SESSION]
    # its own process group: the kill takes the forked verdict children with it, as a CI
    # runner's or the OOM killer's would not, but as a closed terminal does
    return subprocess.Popen(
        command, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _report_state(path: Path, *, previous: bytes) -> str:
    if not path.exists():
        return "absent"
    data = path.read_bytes()
    if data == previous:
        return "old"
    report = json.loads(data)  # a torn file fails here
    assert len(report["mlbugs"]["variants"]) == VARIANTS
    return "complete"


@pytest.mark.slow
def test_sigkill_at_random_moments_never_changes_a_user_file_or_tears_the_report(tmp_path):
    folder = tmp_path / "project"
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "attention.py").write_text(
        builtin_registry().components["attention"].reference_source
    )
    (folder / "test_model.py").write_text("def test_ok():\n    assert True\n")
    (folder / "data.bin").write_bytes(os.urandom(4096))
    (folder / "report.json").write_bytes(OLD_REPORT)
    user_files = _tree(folder)
    del user_files["report.json"]

    # a whole session first: how long one takes, so that the kills land all over it (import,
    # collection, references, verdicts, the report)
    started = time.monotonic()
    assert _start(folder).wait() == 0
    duration = time.monotonic() - started
    assert _report_state(folder / "report.json", previous=OLD_REPORT) == "complete"

    rng = random.Random(20240607)
    moments = sorted(rng.uniform(0.1, 1.1) * duration for _ in range(4))
    states = []
    for moment in moments:
        previous = (folder / "report.json").read_bytes()
        process = _start(folder)
        time.sleep(moment)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        states.append(_report_state(folder / "report.json", previous=previous))
        after = _tree(folder)
        after.pop("report.json", None)
        # an atomic write killed between its temporary file and the rename may leave that
        # temporary file (never the report itself half written); nothing else may appear
        litter = [name for name in after if name not in user_files]
        assert all(name.startswith(".report.json.") and name.endswith(".tmp") for name in litter), litter
        assert {name: after[name] for name in user_files} == user_files

    assert _start(folder).wait() == 0  # the next run works
    assert _report_state(folder / "report.json", previous=b"") == "complete"
    assert {name: data for name, data in _tree(folder).items() if name in user_files} == user_files
    # the next session removes the scratch folders that killed sessions left behind
    assert not [p for p in SCRATCH_ROOT.glob("variant-*") if not _alive(int(p.name.split("-")[1]))]
    print(f"session {duration:.1f} s; kills at {[round(m, 1) for m in moments]} s: report {states}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
