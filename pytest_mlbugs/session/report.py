"""Session results: the terminal table and the JSON report.

Results arrive as the JSON payloads that items attach to their reports, so a serial run and
an xdist run (whose controller only sees reports) build the same tables. The JSON follows
the mutation-testing-report-schema (Stryker, PIT; version 2) so existing viewers render it:
one mutant per bug, at the span the bug rewrites. pytest-mlbugs' own details, verdicts and
score per variant, are under ``mlbugs``.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_mlbugs.generator import PlanNotes
from pytest_mlbugs.options import MAX_BUGS
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


def plan_lines(notes: PlanNotes | None) -> list[str]:
    """What the plan gave where it could not give what was asked, a line each: variants of more
    bugs than ``--mlbugs-max-bugs``, and a selection with fewer distinct variants than asked for."""
    if notes is None:
        return []
    lines = []
    if notes.beyond_max_bugs:
        least = notes.max_bugs + 1
        bugs = f"{least} bugs" if least == notes.most_bugs else f"{least} to {notes.most_bugs} bugs"
        limit = "single-bug variants" if notes.max_bugs == 1 else f"variants of at most {notes.max_bugs} bugs"
        lines.append(
            f"{notes.beyond_max_bugs} of {notes.planned} variants carry {bugs}: the selection has only "
            f"{notes.within_max_bugs} distinct {limit} ({MAX_BUGS}={notes.max_bugs})"
        )
    if notes.exhausted:
        lines.append(
            f"the selection has only {notes.planned} distinct variants (of up to {notes.most_bugs} bugs): "
            f"the session holds every one of them, not the {notes.requested} asked for"
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


def mutant_ids(variant: Mapping[str, Any]) -> list[str]:
    """The schema IDs of a variant's mutants, one per bug: the variant's own ID for a single bug,
    the variant's ID and the bug's number (``<id>.2``) for each bug of a variant of several."""
    if len(variant["bugs"]) == 1:
        return [variant["id"]]
    return [f"{variant['id']}.{number}" for number in range(1, len(variant["bugs"]) + 1)]


def variant_mutants(
    variant: Mapping[str, Any], *, registry: Registry, component: str
) -> list[dict[str, Any]]:
    """A variant as schema mutants, one per bug, so that a viewer shows each change: each at its
    own change to the reference, under its own mutator. A single bug has the variant's verdict; a
    bug of several has its verdict alone where the variant has one (the variant's otherwise), and
    the variant's verdict in ``statusReason``. The score under ``mlbugs`` stays per variant."""
    several = len(variant["bugs"]) > 1
    killer = [f"{component}.{variant['property']}"] if variant["property"] else []
    mutants = []
    for number, (mutant_id, bug) in enumerate(
        zip(mutant_ids(variant), variant["bugs"], strict=True), start=1
    ):
        status, reason, killed_by = variant["status"], variant["message"] or "", killer
        if several:
            reason = (
                f"bug {number} of {len(variant['bugs'])} of variant {variant['id']} ({variant['status']})"
                + (f": {reason}" if reason else "")
            )
            if bug.get("alone"):
                status = bug["alone"]
                reason += f"; alone, {describe_alone(bug['alone'], bug['caught_by'])}"
                killed_by = [f"{component}.{bug['caught_by']}"] if bug["caught_by"] else []
        mutants.append(
            stryker.mutant(
                mutant_id=mutant_id,
                mutator_name=bug["id"],
                replacement=bug["replacement"],
                where=bug["location"],
                status=stryker.SCHEMA_STATUS[Status(status)],
                status_reason=reason,
                description=bug.get("description") or registry.mutators[bug["id"]].description,
                seconds=variant["seconds"],
                killed_by=killed_by,
            )
        )
    return mutants


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
        files[component.reference_path]["mutants"].extend(
            variant_mutants(variant, registry=registry, component=component.name)
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
