"""What ``--mlbugs-target`` prints and writes: the summary table, the survivors, the JSON report.

The JSON follows the mutation-testing-report-schema (version 2, as Stryker and PIT write it):
each target file with its source and its mutants marked, so existing viewers show it; our own
details (the properties that would have caught a survivor, ignored sites) live under ``mlbugs``.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from typing import Any

from pytest_mlbugs.reports import stryker
from pytest_mlbugs.targeting.items import describe
from pytest_mlbugs.targeting.results import IGNORED, RECORD_STATUSES, TargetResults
from pytest_mlbugs.verdict import Status


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...], left: int) -> list[str]:
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def fmt(row: Iterable[str]) -> str:
        cells = list(row)
        return "  ".join(c.ljust(widths[i]) if i < left else c.rjust(widths[i]) for i, c in enumerate(cells))

    rule = fmt("-" * w for w in widths)
    return [fmt(header), rule, *(fmt(r) for r in rows[:-1]), rule, fmt(rows[-1])]


def summary_lines(results: TargetResults) -> list[str]:
    lines = [f"mlbugs: {problem}" for problem in results.problems]
    if results.stopped:
        return [*lines, f"mlbugs: no mutant was judged: {results.stopped}"]
    records = results.records
    if not records:
        return [*lines, "mlbugs: no mutant: no mutator has a site in the target"]
    table: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for r in records:
        table[(r["file"], r["category"])][r["status"]] += 1
    totals: collections.Counter[str] = collections.Counter()
    rows: list[tuple[str, ...]] = []
    for (file, category), counter in sorted(table.items()):
        totals.update(counter)
        rows.append((file, category, str(sum(counter.values())), *(str(counter[s]) for s in RECORD_STATUSES)))
    rows.append(("total", "", str(sum(totals.values())), *(str(totals[s]) for s in RECORD_STATUSES)))
    lines.extend(_table(rows, ("file", "category", "mutants", *RECORD_STATUSES), left=2))

    survivors = [r for r in records if r["status"] in (Status.SURVIVED, Status.TIMEOUT, Status.ERROR)]
    if survivors:
        lines.append("")
        lines.append(
            "not detected (each diff is in its failure above; fix the tests, or mark an equivalent "
            "mutant '# mlbugs: ignore[BUG_ID] reason'):"
        )
    for r in survivors:
        lines.append(describe(r)[0])
    ignored = [r for r in records if r["status"] == IGNORED]
    if ignored:
        lines.append("")
        lines.append("ignored sites:")
        lines.extend(f"    {r['file']}:{r['line']} {r['bug_id']}: {r['detail']}" for r in ignored)
    score = results.score()
    if score is not None:
        judged = sum(totals[s] for s in RECORD_STATUSES if s != IGNORED)
        lines.append(
            f"mutation score: {score:.1f}% ({totals[Status.DETECTED]} of {judged} mutants detected; "
            f"{results.from_cache} verdict(s) from the cache; "
            f"mutation testing took {results.phase_seconds:.2f} s, "
            f"{results.judged_seconds:.2f} s of it judging mutants)"
        )
        if results.fail_under is not None:
            verdict = "FAILED" if score < results.fail_under else "passed"
            lines.append(f"--mlbugs-fail-under={results.fail_under:g}: {verdict}")
    return lines


def build_report(results: TargetResults) -> dict[str, Any]:
    files = {t.display: stryker.source_file(t.source) for t in results.files}
    for r in results.records:
        if r["status"] == IGNORED:
            status = stryker.IGNORED
        elif not r["covered"]:
            status = stryker.NO_COVERAGE
        else:
            status = stryker.SCHEMA_STATUS[Status(r["status"])]
        files[r["file"]]["mutants"].append(
            stryker.mutant(
                mutant_id=r["id"],
                mutator_name=r["bug_id"],
                replacement=r["replacement"],
                where=r["location"],
                status=status,
                status_reason=r["failure"] or r["detail"] or "",
                description=r["description"],
                seconds=r["seconds"],
                killed_by=[r["killed_by"]] if r["killed_by"] else (),
                covered_by=r["tests"],
            )
        )
    fields = (
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
        "diff",
    )
    details = {
        "mode": "target",
        "targets": list(results.targets),
        "seed": results.seed,
        "count": results.count,
        "score": results.score(),
        "fail_under": results.fail_under,
        "mutants": [{k: r[k] for k in fields} for r in results.records],
        "ignored": [
            {"file": r["file"], "line": r["line"], "bug_id": r["bug_id"], "reason": r["detail"]}
            for r in results.records
            if r["status"] == IGNORED
        ],
    }
    return stryker.report(files, project_root=results.project_root, details=details)
