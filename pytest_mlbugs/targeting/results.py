"""What target mode found: one record per mutant, the problems met, the score.

The records are plain JSON-able dicts, because an xdist worker sends them to the controller in
its reports; the summary and the JSON report (:mod:`.report`) read a :class:`TargetResults`,
never the session.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pytest_mlbugs.registry import Registry
from pytest_mlbugs.reports import stryker
from pytest_mlbugs.targeting.mutants import Mutant, TargetFile
from pytest_mlbugs.verdict import OUTCOMES, Status

#: a mutant's record status for a site a ``# mlbugs: ignore[...]`` pragma excludes: never judged
IGNORED = "ignored"
#: every record status, in the summary table's order
RECORD_STATUSES = (*OUTCOMES, IGNORED)


def catching_properties(registry: Registry, bug_id: str) -> list[str]:
    """The contract properties of the mutator's components at its debugging layer."""
    mutator = registry.mutators[bug_id]
    found: list[str] = []
    for name in mutator.components:
        component = registry.components.get(name)
        if component is None:
            continue
        at_layer = [p for p in component.suite.properties if p.layer == mutator.layer]
        found.extend(p.qualified_name for p in (at_layer or component.suite.properties))
    return found


@dataclasses.dataclass
class TargetResults:
    registry: Registry
    targets: tuple[str, ...]
    seed: int
    count: int | None
    fail_under: float | None
    project_root: str
    files: list[TargetFile] = dataclasses.field(default_factory=list)
    records: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: things the user should know that do not stop the run (a mutator that failed, no coverage)
    problems: list[str] = dataclasses.field(default_factory=list)
    #: why no mutant was judged (a red clean run, a failed forced-fail check)
    stopped: str | None = None
    from_cache: int = 0
    #: the mutation phase (clean run, checks, mutants) and the part of it spent judging mutants
    phase_seconds: float = 0.0
    judged_seconds: float = 0.0

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    def build_record(
        self, mutant: Mutant, tests: list[str], verdict: dict[str, Any] | None, *, cached: bool
    ) -> dict[str, Any]:
        """The record of ``mutant``: ``verdict`` as JSON, or ``None`` for an ignored site."""
        mutator = self.registry.mutators[mutant.bug_id]
        failures = (verdict or {}).get("failures") or []
        where, replacement = stryker.change(mutant.file.source, mutant.source)
        record: dict[str, Any] = {
            "id": mutant.id,
            "file": mutant.file.display,
            "bug_id": mutant.bug_id,
            "category": mutator.category.value,
            "layer": mutator.layer.value,
            "description": mutant.description or mutator.description,
            "line": mutant.first_line,
            "changed_lines": list(mutant.changed_lines),
            "diff": mutant.diff,
            # the report's span: splicing the replacement into the location gives the mutant
            "location": where,
            "replacement": replacement,
            "status": IGNORED if verdict is None else verdict["status"],
            "seconds": 0.0 if verdict is None else verdict.get("seconds", 0.0),
            "detail": mutant.ignored_reason if verdict is None else verdict.get("detail", ""),
            "killed_by": failures[0]["property"] if failures else None,
            "failure": failures[0]["message"] if failures else None,
            "tests": tests,
            "covered": bool(tests) or verdict is None,
            "cached": cached,
            "properties": catching_properties(self.registry, mutant.bug_id),
            "cpu_check": mutator.cpu_check,
        }
        return record

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        self.from_cache += bool(record.get("cached"))

    def put_in_order(self) -> None:
        """Put the records in the order of the mutants (verdicts arrive out of order, from
        several workers): by file, then as :func:`.mutants.mutants_of` orders a file's."""
        files = {t.display: i for i, t in enumerate(self.files)}
        self.records.sort(
            key=lambda r: (
                files.get(r["file"], len(files)),
                r["line"],
                r["bug_id"],
                int(r["id"].rsplit(":", 1)[1]),
            )
        )

    def exit_status(self, status: int | pytest.ExitCode, *, clean_failed: bool) -> int | pytest.ExitCode:
        """The run's exit status. Survivors fail the run, as they fail their items;
        ``--mlbugs-fail-under`` sets a threshold instead: the run passes when the score reaches
        it and nothing but mutants failed."""
        score = self.score()
        if self.fail_under is None or score is None:
            return status
        if score < self.fail_under and status == pytest.ExitCode.OK:
            return pytest.ExitCode.TESTS_FAILED
        if score >= self.fail_under and status == pytest.ExitCode.TESTS_FAILED and not clean_failed:
            return pytest.ExitCode.OK
        return status

    def score(self) -> float | None:
        judged = [r for r in self.records if r["status"] != IGNORED]
        if not judged:
            return None
        return 100.0 * sum(r["status"] == Status.DETECTED for r in judged) / len(judged)
