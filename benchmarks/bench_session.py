"""Session throughput and memory, run on demand (not part of the test suite).

    python benchmarks/bench_session.py                 # default session + 200 + 2000 variants
    python benchmarks/bench_session.py --sizes 200     # only the 200-variant session

Each session is a real ``pytest --mlbugs-seed=...`` subprocess in an empty folder. Reported:
wall time (torch import included), variants verified per second, the median and 90th
percentile verdict time per variant (from the JSON report), the peak RSS of the pytest
process (VmHWM, polled from /proc), the largest peak RSS of a forked worker (counted alone:
most of its pages are the parent's, shared copy-on-write), and, for the bugs of variants of
several, how many the suite caught alone and how many the failing property points to.

    python benchmarks/bench_session.py --isolation fork   # a fresh child per verdict instead
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_mb(pid: int) -> float | None:
    """The process' peak resident memory so far (VmHWM), or ``None`` once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def run_session(args: list[str], workdir: Path) -> dict[str, float]:
    report = workdir / "report.json"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--mlbugs-report={report}",
        *args,
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    peak = worker_peak = 0.0
    while process.poll() is None:
        rss = peak_rss_mb(process.pid)
        if rss is not None:
            peak = max(peak, rss)
        for child in children(process.pid):
            worker_peak = max(worker_peak, peak_rss_mb(child) or 0.0)
        time.sleep(0.05)
    wall = time.perf_counter() - started
    output = process.stdout.read().decode() if process.stdout else ""
    if process.returncode not in (0, 1):
        raise SystemExit(f"pytest exited with {process.returncode}:\n{output[-3000:]}")
    data = json.loads(report.read_text())
    seconds = [v["seconds"] for v in data["mlbugs"]["variants"]]
    statuses = [v["status"] for v in data["mlbugs"]["variants"]]
    # the bugs of variants of several, each judged alone
    judged = [b for v in data["mlbugs"]["variants"] for b in v["bugs"] if "alone" in b]
    return {
        "variants": len(seconds),
        "wall_s": wall,
        "variants_per_s": len(seconds) / wall,
        "median_verdict_ms": 1000 * statistics.median(seconds),
        "p90_verdict_ms": 1000 * statistics.quantiles(seconds, n=10)[-1],
        "peak_rss_mb": peak,
        "worker_peak_rss_mb": worker_peak,
        "detected": statuses.count("detected"),
        "score": data["mlbugs"]["score"],
        "bugs_judged_alone": len(judged),
        "caught_alone": sum(b["alone"] == "detected" for b in judged),
        "pointed_to": sum(b["pointed_to"] for b in judged),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[200, 2000])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-bugs", type=int, default=3)
    parser.add_argument("--skip-default", action="store_true")
    parser.add_argument("--isolation", choices=("worker", "fork"), default="worker")
    options = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        if not options.skip_default:
            default = [f"--mlbugs-seed={options.seed}", f"--mlbugs-isolation={options.isolation}"]
            rows.append(("default session", run_session(default, workdir)))
        for size in options.sizes:
            args = [
                f"--mlbugs-seed={options.seed}",
                f"--mlbugs-count={size}",
                f"--mlbugs-max-bugs={options.max_bugs}",
                f"--mlbugs-isolation={options.isolation}",
            ]
            rows.append((f"{size} variants, up to {options.max_bugs} bugs", run_session(args, workdir)))
    print(
        f"{'session':32} {'variants':>8} {'wall s':>8} {'var/s':>7} {'median ms':>10} {'p90 ms':>8} "
        f"{'peak MB':>8} {'worker MB':>9} {'score %':>8}  bugs alone: caught/pointed to/judged"
    )
    for name, row in rows:
        print(
            f"{name:32} {row['variants']:>8.0f} {row['wall_s']:>8.1f} {row['variants_per_s']:>7.1f} "
            f"{row['median_verdict_ms']:>10.1f} {row['p90_verdict_ms']:>8.1f} {row['peak_rss_mb']:>8.0f} "
            f"{row['worker_peak_rss_mb']:>9.0f} "
            f"{row['score']:>8.1f}  {row['caught_alone']}/{row['pointed_to']}/{row['bugs_judged_alone']}"
        )


if __name__ == "__main__":
    main()
