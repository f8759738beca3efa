"""What ``--mlbugs-target`` prints and writes: the summary table, the survivors, the JSON report.

The JSON follows the mutation-testing-report-schema (version 2, as Stryker and PIT write it):
each target file with its source and its mutants marked, so existing viewers show it; our own
details (the properties that would have caught a survivor, ignored sites) live under ``mlbugs``.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pytest_mlbugs import __version__

if TYPE_CHECKING:
    from pytest_mlbugs.targeting_session import TargetSession

STATUSES = ("detected", "survived", "timeout", "error", "ignored")
_SCHEMA_STATUS = {
    "detected": "Killed",
    "survived": "Survived",
    "timeout": "Timeout",
    "error": "RuntimeError",
    "ignored": "Ignored",
}


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...], left: int) -> list[str]:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def fmt(row: Iterable[str]) -> str:
        cells = list(row)
        return "  ".join(c.ljust(widths[i]) if i < left else c.rjust(widths[i]) for i, c in enumerate(cells))

    rule = fmt("-" * w for w in widths)
    return [fmt(header), rule, *(fmt(r) for r in rows[:-1]), rule, fmt(rows[-1])]


def summary_lines(session: TargetSession) -> list[str]:
    lines = [f"mlbugs: {problem}" for problem in session.problems]
    if session.stopped:
        return [*lines, f"mlbugs: no mutant was judged: {session.stopped}"]
    results = session.results
    if not results:
        return [*lines, "mlbugs: no mutant: no mutator has a site in the target"]
    table: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for r in results:
        table[(r["file"], r["category"])][r["status"]] += 1
    totals: collections.Counter[str] = collections.Counter()
    rows: list[tuple[str, ...]] = []
    for (file, category), counter in sorted(table.items()):
        totals.update(counter)
        rows.append((file, category, str(sum(counter.values())), *(str(counter[s]) for s in STATUSES)))
    rows.append(("total", "", str(sum(totals.values())), *(str(totals[s]) for s in STATUSES)))
    lines.extend(_table(rows, ("file", "category", "mutants", *STATUSES), left=2))

    survivors = [r for r in results if r["status"] in ("survived", "timeout", "error")]
    if survivors:
        lines.append("")
        lines.append(
            "not detected (fix the tests, or mark an equivalent mutant '# mlbugs: ignore[BUG_ID] reason'):"
        )
    for r in survivors:
        how = (
            r["detail"]
            if r["status"] != "survived" or not r["covered"]
            else f"{len(r['tests'])} test(s) passed"
        )
        lines.append(f"{r['status'].upper()} {r['id']}  {r['file']}:{r['line']}  {r['description']}  ({how})")
        if r["properties"]:
            shown = ", ".join(r["properties"][:4]) + (" ..." if len(r["properties"]) > 4 else "")
            lines.append(f"    would be caught by the {r['layer']} properties of the contract: {shown}")
        lines.extend("    " + line for line in r["diff"].rstrip("\n").splitlines())
    ignored = [r for r in results if r["status"] == "ignored"]
    if ignored:
        lines.append("")
        lines.append("ignored sites:")
        lines.extend(f"    {r['file']}:{r['line']} {r['bug_id']}: {r['detail']}" for r in ignored)
    score = session.score()
    if score is not None:
        judged = sum(totals[s] for s in STATUSES if s != "ignored")
        lines.append(
            f"mutation score: {score:.1f}% ({totals['detected']} of {judged} mutants detected; "
            f"{session.from_cache} verdict(s) from the cache; "
            f"mutation testing took {session.phase_seconds:.2f} s, "
            f"{session.judged_seconds:.2f} s of it judging mutants)"
        )
        if session.fail_under is not None:
            verdict = "FAILED" if score < session.fail_under else "passed"
            lines.append(f"--mlbugs-fail-under={session.fail_under:g}: {verdict}")
    return lines


def build_report(session: TargetSession) -> dict[str, Any]:
    from pytest_mlbugs.report import versions

    files: dict[str, dict[str, Any]] = {
        t.display: {"language": "python", "source": t.source, "mutants": []} for t in session.files
    }
    for r in session.results:
        source_lines = files[r["file"]]["source"].splitlines()
        first, last = r["changed_lines"][0], r["changed_lines"][-1]
        end_column = len(source_lines[last - 1]) + 1 if last - 1 < len(source_lines) else 1
        mutant: dict[str, Any] = {
            "id": r["id"],
            "mutatorName": r["bug_id"],
            "replacement": _added_lines(r["diff"]),
            "location": {"start": {"line": first, "column": 1}, "end": {"line": last, "column": end_column}},
            "status": "NoCoverage" if not r["covered"] else _SCHEMA_STATUS[r["status"]],
            "statusReason": r["failure"] or r["detail"] or "",
            "description": r["description"],
            "duration": round(r["seconds"] * 1000),
            "coveredBy": r["tests"],
            "testsCompleted": len(r["tests"]),
        }
        if r["killed_by"]:
            mutant["killedBy"] = [r["killed_by"]]
        files[r["file"]]["mutants"].append(mutant)
    return {
        "schemaVersion": "2",
        "thresholds": {"high": 80, "low": 60},
        "projectRoot": str(session.config.rootpath),
        "files": files,
        "framework": {"name": "pytest-mlbugs", "version": __version__, "dependencies": versions()},
        "mlbugs": {
            "mode": "target",
            "targets": list(session.targets),
            "seed": session.settings.seed,
            "count": session.settings.count,
            "score": session.score(),
            "fail_under": session.fail_under,
            "mutants": [
                {
                    k: r[k]
                    for k in (
                        "id",
                        "file",
                        "line",
                        "bug_id",
                        "category",
                        "status",
                        "detail",
                        "killed_by",
                        "properties",
                        "cached",
                    )
                }
                for r in session.results
            ],
            "ignored": [
                {"file": r["file"], "line": r["line"], "bug_id": r["bug_id"], "reason": r["detail"]}
                for r in session.results
                if r["status"] == "ignored"
            ],
        },
    }


def _added_lines(diff: str) -> str:
    return "\n".join(
        line[1:] for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")
    )
