"""Mutants per second on ``examples/mlbugs_target_example``: ``--mlbugs-target`` against mutmut 3.

Both tools mutate ``src/tinyclf`` and run the same strong suite (``tests_strong``), each in its own
copy of the example (neither writes into this repository). mutmut is never a dependency of
pytest-mlbugs: give its interpreter with ``--mutmut-python`` (a venv with ``pip install
'mutmut>=3,<4'``), or the benchmark measures ours alone and says so. mutmut runs with
``process_isolation = "forkserver"`` (set in the example's ``[tool.mutmut]``): its default fork
mode hangs once torch is imported.

    python benchmarks/bench_target.py [--mutmut-python /tmp/mmvenv/bin/python]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "mlbugs_target_example"

#: mutmut 3.8.1's mutants of the example that no test can kill, each with the reason; every other
#: mutmut mutant is killed by ``tests_strong`` (the benchmark lists any that is not)
EQUIVALENT = {
    "tinyclf.model.xǁSelfAttentionǁforward__mutmut_60": "k.transpose(+2, -1): on the 4-D (B, H, T, d_k) "
    "keys, axis 2 is axis -2",
    "tinyclf.model.xǁSelfAttentionǁforward__mutmut_74": 'float("-INF"): float() parses "-INF" as -inf too',
}


def _copy(into: Path) -> Path:
    project = into / "example"
    shutil.copytree(
        EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", "mutants")
    )
    return project


def run_ours(workdir: Path) -> dict[str, float]:
    project = _copy(workdir)
    report = workdir / "report.json"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:benchmark", "tests_strong",
               "--mlbugs-target=src/tinyclf", f"--mlbugs-report={report}"]  # fmt: skip
    started = time.perf_counter()
    run = subprocess.run(command, cwd=project, check=True, capture_output=True, text=True)
    first = time.perf_counter() - started
    data = json.loads(report.read_text())
    judged = [m for m in data["mlbugs"]["mutants"] if m["status"] != "ignored"]
    started = time.perf_counter()
    rerun = subprocess.run(command, cwd=project, check=True, capture_output=True, text=True)
    second = time.perf_counter() - started
    took = [
        float(x)
        for out in (run.stdout, rerun.stdout)
        for x in re.findall(r"mutation testing took ([\d.]+) s", out)
    ]
    return {
        "mutants": len(judged),
        "detected": sum(m["status"] == "detected" for m in judged),
        "seconds": first,
        "mutants_per_second": len(judged) / first,
        "rerun_seconds": second,
        "mutation_phase_seconds": took[0],
        "rerun_mutation_phase_seconds": took[1],
    }


def run_mutmut(workdir: Path, python: str) -> dict[str, float] | str:
    project = _copy(workdir)
    mutmut = [python, "-c", "import sys; from mutmut.__main__ import cli; sys.exit(cli())"]
    started = time.perf_counter()
    try:
        run = subprocess.run([*mutmut, "run"], cwd=project, capture_output=True, text=True, timeout=1800)
    except subprocess.TimeoutExpired:
        return "mutmut run did not finish within 30 minutes"
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        return f"mutmut run failed ({run.returncode}): {(run.stderr or run.stdout)[-400:]}"
    results = subprocess.run(
        [*mutmut, "results", "--all", "true"], cwd=project, capture_output=True, text=True
    )
    found = re.findall(r"^\s*(\S+):\s*(killed|survived|timeout|suspicious|no tests|segfault|skipped)\s*$",
                       results.stdout, flags=re.MULTILINE)  # fmt: skip
    statuses = [status for _, status in found]
    total = len(statuses)
    return {
        "mutants": total,
        "killed": statuses.count("killed"),
        "seconds": seconds,
        "mutants_per_second": total / seconds if seconds else float("nan"),
        "not_killed": {name: status for name, status in found if status != "killed"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mutmut-python", help="an interpreter that has mutmut 3 installed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-target-") as tmp:
        ours = run_ours(Path(tmp) / "ours")
        print(
            f"pytest-mlbugs --mlbugs-target: {ours['mutants']} mutants ({ours['detected']} detected) in "
            f"{ours['seconds']:.1f} s = {ours['mutants_per_second']:.2f} mutants/s; rerun with nothing "
            f"changed {ours['rerun_seconds']:.1f} s; mutation phase {ours['mutation_phase_seconds']:.2f} s, "
            f"on the rerun {ours['rerun_mutation_phase_seconds']:.2f} s"
        )
        if not args.mutmut_python:
            print("mutmut: not measured (give --mutmut-python=PATH to an interpreter with mutmut 3)")
            return
        theirs = run_mutmut(Path(tmp) / "mutmut", args.mutmut_python)
        if isinstance(theirs, str):
            print(f"mutmut: could not be measured: {theirs}")
            return
        print(
            f"mutmut 3 (forkserver): {theirs['mutants']} mutants ({theirs['killed']} killed) in "
            f"{theirs['seconds']:.1f} s = {theirs['mutants_per_second']:.2f} mutants/s"
        )
        print(f"ratio: {ours['mutants_per_second'] / theirs['mutants_per_second']:.1f}x mutmut's rate")
        not_killed = theirs["not_killed"]
        unexplained = [name for name in not_killed if name not in EQUIVALENT]
        print(f"mutmut mutants not killed by tests_strong: {len(not_killed)}, of them equivalent: "
              f"{len(not_killed) - len(unexplained)}, not equivalent: {len(unexplained)}")  # fmt: skip
        for name, status in not_killed.items():
            print(f"    {status:9} {name}: {EQUIVALENT.get(name, 'NOT EQUIVALENT: strengthen tests_strong')}")


if __name__ == "__main__":
    main()
