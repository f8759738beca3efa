"""The mutation-testing-report schema (version 2, as Stryker and PIT write it), written once.

Seeded sessions and target mode both report in this schema, so that existing viewers render
them: every mutated file with its source and its mutants, each mutant with a status, a location,
its replacement and what killed it. pytest-mlbugs' own details go under ``mlbugs``.
"""

from __future__ import annotations

import importlib.metadata
import platform
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_mlbugs import __version__
from pytest_mlbugs.mutation import changed_span
from pytest_mlbugs.verdict import Status

#: a verdict's status in the schema's words
SCHEMA_STATUS = {
    Status.DETECTED: "Killed",
    Status.SURVIVED: "Survived",
    Status.TIMEOUT: "Timeout",
    Status.ERROR: "RuntimeError",
}
#: a site excluded by a ``# mlbugs: ignore[...]`` pragma (target mode)
IGNORED = "Ignored"
#: a mutant that no test executes (target mode)
NO_COVERAGE = "NoCoverage"


def versions() -> dict[str, str]:
    """The versions that shaped the run: Python, pytest-mlbugs and the libraries it runs on."""
    found = {"python": platform.python_version(), "pytest-mlbugs": __version__}
    for dist in ("torch", "hypothesis", "libcst", "pytest", "pytest-xdist"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def change(before: str, after: str) -> tuple[dict[str, Any], str]:
    """Where ``after`` differs from ``before``: a schema location in ``before`` and the text that
    replaces it there, so that a viewer splicing the replacement into the location shows
    ``after`` exactly. The one stretch that differs (common prefix, then common suffix), widened
    to whole words: ``tril`` in place of ``triu``, not ``l`` in place of ``u``."""
    start, end, after_end = changed_span(before, after)

    def edge(pick: slice) -> bool:  # the changed text begins (ends) with a word's character
        return _in_word(before[start:end][pick]) or _in_word(after[start:after_end][pick])

    # the prefix and the suffix are common to both texts: moving them into the stretch keeps it exact
    while start > 0 and _in_word(before[start - 1]) and edge(slice(None, 1)):
        start -= 1
    while end < len(before) and _in_word(before[end]) and edge(slice(-1, None)):
        end += 1
        after_end += 1
    return location_between(before, start, end), after[start:after_end]


def _in_word(text: str) -> bool:
    return text.isalnum() or text == "_"


def location_between(source: str, start: int, end: int) -> dict[str, Any]:
    """The schema location of ``source[start:end]`` (lines and columns from 1, end exclusive)."""

    def position(offset: int) -> tuple[int, int]:
        line_start = source.rfind("\n", 0, offset) + 1
        return source.count("\n", 0, offset) + 1, offset - line_start + 1

    return location(*position(start), *position(end))


def location(start_line: int, start_column: int, end_line: int, end_column: int) -> dict[str, Any]:
    """A schema location from 1-based lines and 1-based columns."""
    return {
        "start": {"line": start_line, "column": start_column},
        "end": {"line": end_line, "column": end_column},
    }


def mutant(
    *,
    mutant_id: str,
    mutator_name: str,
    replacement: str,
    where: Mapping[str, Any],
    status: str,
    status_reason: str,
    description: str,
    seconds: float,
    killed_by: Sequence[str] = (),
    covered_by: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One mutant of a file."""
    entry: dict[str, Any] = {
        "id": mutant_id,
        "mutatorName": mutator_name,
        "replacement": replacement,
        "location": dict(where),
        "status": status,
        "statusReason": status_reason,
        "description": description,
        "duration": round(seconds * 1000),
    }
    if covered_by is not None:
        entry["coveredBy"] = list(covered_by)
        entry["testsCompleted"] = len(covered_by)
    if killed_by:
        entry["killedBy"] = list(killed_by)
    return entry


def source_file(source: str) -> dict[str, Any]:
    """A file entry: its source, with no mutant yet."""
    return {"language": "python", "source": source, "mutants": []}


def report(files: Mapping[str, Any], *, project_root: str, details: Mapping[str, Any]) -> dict[str, Any]:
    """The whole report: the files with their mutants, and ``details`` under ``mlbugs``."""
    return {
        "schemaVersion": "2",
        "thresholds": {"high": 80, "low": 60},
        "projectRoot": project_root,
        "files": dict(files),
        "framework": {"name": "pytest-mlbugs", "version": __version__, "dependencies": versions()},
        "mlbugs": dict(details),
    }
