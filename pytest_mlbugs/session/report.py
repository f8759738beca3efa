"""Session results: the terminal table and the JSON report.

Results arrive as the JSON payloads that items attach to their reports, so a serial run and
an xdist run (whose controller only sees reports) build the same tables. The JSON follows
the mutation-testing-report-schema (Stryker, PIT; version 2) so existing viewers render it,
with pytest-mlbugs' own details under ``mlbugs``.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_mlbugs.registry import Registry
from pytest_mlbugs.reports import stryker
from pytest_mlbugs.verdict import OUTCOMES, BugVerdict, Status

#: what a variant of several bugs reports of each bug, judged alone
BUG_VERDICT_FIELDS = tuple(field.name for field in dataclasses.fields(BugVerdict))


class Results:
    def __init__(self) -> None:
        self.variants: list[dict[str, Any]] = []
        self.references: list[dict[str, Any]] = []

    def add(self, payload: Mapping[str, Any]) -> None:
        if payload.get("kind") == "variant":
            self.variants.append(dict(payload))
        elif payload.get("kind") == "reference":
            self.references.append(dict(payload))

    def sorted_variants(self) -> list[dict[str, Any]]:
        return sorted(self.variants, key=lambda v: v["ordinal"])

    def counts(self) -> dict[tuple[str, str], collections.Counter[str]]:
        table: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(collections.Counter)
        for variant in self.variants:
            key = (variant["component"], "+".join(variant["categories"]))
            table[key][variant["status"]] += 1
        return table

    def score(self) -> float | None:
        if not self.variants:
            return None
        detected = sum(v["status"] == Status.DETECTED for v in self.variants)
        return 100.0 * detected / len(self.variants)


#: bugs not caught alone that the terminal summary names; the JSON report has them all
MAX_MISSED_SHOWN = 20


def describe_alone(status: str, caught_by: str | None) -> str:
    """What the verdict on one bug of a variant of several, judged alone, means."""
    if status == Status.DETECTED:
        return f"caught on its own by {caught_by}"
    if status == Status.SURVIVED:
        return "not caught on its own: the suite misses it once the other bugs are fixed"
    if status == Status.TIMEOUT:
        return "no verdict on its own within its share of --mlbugs-timeout (it hangs alone?)"
    return "could not be judged on its own (the harness raised)"


def several_bugs_lines(results: Results) -> list[str]:
    """Whether the suite told the bugs of each variant of several apart: each bug judged alone,
    and the bugs on which the case that failed on the whole variant fails again."""
    judged = [v for v in results.sorted_variants() if any("alone" in bug for bug in v["bugs"])]
    if not judged:
        return []
    bugs = [bug for variant in judged for bug in variant["bugs"]]
    caught = sum(bug["alone"] == Status.DETECTED for bug in bugs)
    pointed = sum(bug["pointed_to"] for bug in bugs)
    unexplained = sum(
        v["status"] == Status.DETECTED and not any(b["pointed_to"] for b in v["bugs"]) for v in judged
    )
    lines = [
        f"variants of several bugs: {len(judged)}, with {len(bugs)} bugs: {caught} caught on their own; "
        f"the case that failed on the whole variant fails again on {pointed} of them alone"
    ]
    if unexplained:
        lines.append(
            f"  {unexplained} detected variant(s) whose failing case fails on none of their bugs "
            "alone: the bugs only show together"
        )
    missed = [
        f"  {variant['component']} variant {variant['id']} ({variant['status']}): "
        f"{bug['id']} at line {bug['line']} {describe_alone(bug['alone'], bug['caught_by'])}"
        for variant in judged
        for bug in variant["bugs"]
        if bug["alone"] != Status.DETECTED
    ]
    lines.extend(missed[:MAX_MISSED_SHOWN])
    if len(missed) > MAX_MISSED_SHOWN:
        lines.append(
            f"  ... and {len(missed) - MAX_MISSED_SHOWN} more (every bug is in --mlbugs-report's JSON)"
        )
    return lines


def summary_lines(results: Results) -> list[str]:
    table = results.counts()
    if not table:
        return []
    header = ("component", "category", "variants", *(s.value for s in OUTCOMES))
    rows = []
    totals: collections.Counter[str] = collections.Counter()
    for (component, category), counter in sorted(table.items()):
        total = sum(counter.values())
        totals.update(counter)
        rows.append(
            (
                component,
                category,
                str(total),
                *(str(counter[s]) for s in OUTCOMES),
            )
        )
    rows.append(
        (
            "total",
            "",
            str(sum(totals.values())),
            *(str(totals[s]) for s in OUTCOMES),
        )
    )
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def fmt(row: Iterable[str]) -> str:
        cells = list(row)
        left = [cells[0].ljust(widths[0]), cells[1].ljust(widths[1])]
        right = [cell.rjust(widths[i + 2]) for i, cell in enumerate(cells[2:])]
        return "  ".join(left + right)

    lines = [fmt(header), fmt("-" * w for w in widths)]
    lines.extend(fmt(row) for row in rows[:-1])
    lines.append(fmt("-" * w for w in widths))
    lines.append(fmt(rows[-1]))
    score = results.score()
    if score is not None:
        detected = totals[Status.DETECTED]
        lines.append(
            f"detection score: {score:.1f}% ({detected} of {sum(totals.values())} variants detected; "
            "timeouts and errors are not detections)"
        )
    lines.extend(several_bugs_lines(results))
    failing_refs = [r for r in results.references if r["status"] != Status.PASSED]
    if results.references:
        lines.append(
            f"references: {len(results.references) - len(failing_refs)} of {len(results.references)} "
            "pass their suites"
        )
    return lines


def build_report(
    results: Results, *, registry: Registry, seed: int, settings: Mapping[str, Any]
) -> dict[str, Any]:
    files: dict[str, dict[str, Any]] = {}
    for name in sorted(
        {v["component"] for v in results.variants} | {r["component"] for r in results.references}
    ):
        component = registry.components[name]
        files[component.reference_path] = stryker.source_file(component.reference_source)
    for variant in results.sorted_variants():
        component = registry.components[variant["component"]]
        first = variant["bugs"][0]
        files[component.reference_path]["mutants"].append(
            stryker.mutant(
                mutant_id=variant["id"],
                mutator_name="+".join(b["id"] for b in variant["bugs"]),
                replacement=stryker.added_lines(variant["diff"]),
                where=stryker.location(
                    first["line"], first["column"] + 1, first["end_line"], first["end_column"] + 1
                ),
                status=stryker.SCHEMA_STATUS[Status(variant["status"])],
                status_reason=variant["message"] or "",
                description="; ".join(registry.mutators[b["id"]].description for b in variant["bugs"]),
                seconds=variant["seconds"],
                killed_by=[f"{variant['component']}.{variant['property']}"] if variant["property"] else (),
            )
        )
    details = {
        "seed": seed,
        "settings": dict(settings),
        "versions": stryker.versions(),
        "score": results.score(),
        "variants": [
            {
                "id": v["id"],
                # the variant's place in the whole session: shards' reports merge by it
                "ordinal": v["ordinal"],
                "component": v["component"],
                "categories": v["categories"],
                "bugs": [
                    {key: b[key] for key in ("id", "line", *BUG_VERDICT_FIELDS) if key in b}
                    for b in v["bugs"]
                ],
                "status": v["status"],
                "seconds": v["seconds"],
                "first_failing_property": v["property"],
                "message": v["message"],
                "case": v["case"],
                "diff": v["diff"],
            }
            for v in results.sorted_variants()
        ],
        "references": sorted(
            (
                {
                    "component": r["component"],
                    "status": r["status"],
                    "seconds": r["seconds"],
                    "failures": r["failures"],
                }
                for r in results.references
            ),
            key=lambda r: r["component"],
        ),
    }
    return stryker.report(files, project_root=".", details=details)
