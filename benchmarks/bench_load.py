"""Load: a 5,000-variant session, on demand (not part of the test suite).

    python benchmarks/bench_load.py                    # --mlbugs-count=5000 --mlbugs-max-bugs=3
    python benchmarks/bench_load.py --count 500        # a quicker look

A session holds no variant twice (5,000 asked of the built-in catalogue are 5,000 distinct
variants, most of two or three bugs): the benchmark expects a verdict for each variant the plan
holds.

Runs one real ``pytest --mlbugs-seed=...`` subprocess in an empty folder with a tiny conftest
plugin that counts, at ``pytest_configure`` and again at ``pytest_unconfigure``, the process'
open file descriptors (``/proc/self/fd``), its threads (``threading.active_count()``), its
unreaped children, and the scratch folders that forked verdicts left behind. Reported: wall
time, the peak RSS of the pytest process and of its forked workers (VmHWM, polled), a verdict
for every variant (from the JSON report), and those counts. Exits non-zero when a variant has
no verdict or something leaked.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from bench_session import children, peak_rss_mb  # benchmarks run as scripts: their folder is on sys.path

from pytest_mlbugs.generator import plan_session
from pytest_mlbugs.registry import builtin_registry

COUNTING_CONFTEST = textwrap.dedent(
    """
    import json
    import os
    import threading

    from pytest_mlbugs.isolation.sandbox import SCRATCH_ROOT


    def _target(fd):
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return "?"


    def _counts():
        try:
            os.waitpid(-1, os.WNOHANG)
            children = "some"
        except ChildProcessError:
            children = 0
        return {
            "fds": len(os.listdir("/proc/self/fd")),
            "fd_targets": sorted(_target(fd) for fd in os.listdir("/proc/self/fd")),
            "threads": threading.active_count(),
            "unreaped_children": children,
            "scratch_folders": len(list(SCRATCH_ROOT.glob("variant-*"))) if SCRATCH_ROOT.exists() else 0,
        }


    def pytest_configure(config):
        config._bench_load_start = _counts()


    def pytest_unconfigure(config):
        with open("counts.json", "w") as stream:
            json.dump({"start": config._bench_load_start, "end": _counts()}, stream)
    """
)


#: descriptors a session may open once and keep (see the list the benchmark prints)
FIXED_DESCRIPTORS = 4


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--max-bugs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    registry = builtin_registry()
    planned = len(
        plan_session(
            registry,
            seed=args.seed,
            components=sorted(registry.components),
            mutators=sorted(registry.mutators),
            count=args.count,
            max_bugs=args.max_bugs,
        )
    )

    with tempfile.TemporaryDirectory(prefix="mlbugs-bench-load-") as folder:
        workdir = Path(folder)
        (workdir / "conftest.py").write_text(COUNTING_CONFTEST)
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:benchmark",
            f"--mlbugs-seed={args.seed}",
            f"--mlbugs-count={args.count}",
            f"--mlbugs-max-bugs={args.max_bugs}",
            "--mlbugs-report=report.json",
        ]
        log = (workdir / "output.txt").open("wb")
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
        peak = worker_peak = 0.0
        while process.poll() is None:
            peak = max(peak, peak_rss_mb(process.pid) or 0.0)
            for child in children(process.pid):
                worker_peak = max(worker_peak, peak_rss_mb(child) or 0.0)
            time.sleep(0.2)
        wall = time.perf_counter() - started
        log.close()
        if process.returncode not in (0, 1):
            print((workdir / "output.txt").read_text()[-3000:])
            print(f"pytest exited with {process.returncode}")
            return 1
        report = json.loads((workdir / "report.json").read_text())
        counts = json.loads((workdir / "counts.json").read_text())

    variants = report["mlbugs"]["variants"]
    statuses = collections.Counter(v["status"] for v in variants)
    seconds = sorted(v["seconds"] for v in variants)
    print(f"session: --mlbugs-seed={args.seed} --mlbugs-count={args.count} --mlbugs-max-bugs={args.max_bugs}")
    print(f"wall time: {wall:.0f} s ({len(variants) / wall:.1f} variants/s, torch import included)")
    print(f"verdicts: {len(variants)} of the {planned} variants planned: {dict(sorted(statuses.items()))}")
    print(f"verdict time: median {seconds[len(seconds) // 2] * 1000:.0f} ms, max {seconds[-1]:.2f} s")
    print(f"peak RSS of the pytest process: {peak:.0f} MiB; of a forked worker: {worker_peak:.0f} MiB")
    for key in ("fds", "threads", "unreaped_children", "scratch_folders"):
        print(f"{key}: {counts['start'][key]} at start, {counts['end'][key]} at the end")
    opened = sorted(set(counts["end"]["fd_targets"]) - set(counts["start"]["fd_targets"]))
    print(f"descriptors open at the end but not at the start: {opened}")

    problems = []
    if len(variants) != planned:
        problems.append(f"{planned - len(variants)} variants without a verdict")
    # A few descriptors opened once (torch's and Hypothesis' lazily opened files) are not a leak;
    # one per variant is.
    if counts["end"]["fds"] > counts["start"]["fds"] + FIXED_DESCRIPTORS:
        problems.append(f"descriptors leaked: {counts['start']['fds']} -> {counts['end']['fds']}")
    if counts["end"]["threads"] > counts["start"]["threads"]:
        problems.append(f"threads leaked: {counts['start']['threads']} -> {counts['end']['threads']}")
    if (
        counts["end"]["unreaped_children"]
        or counts["end"]["scratch_folders"] > counts["start"]["scratch_folders"]
    ):
        problems.append("children or scratch folders left behind")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
