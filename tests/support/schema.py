"""Checks of a report against the mutation-testing-report schema, as a viewer would read it.

The schema (``mutation-testing-report-schema.json`` beside this file, see its ``.md`` for where it
came from) says what a report must hold; a viewer also relies on what the schema can only
describe: every mutant's ID is unique, and splicing a mutant's ``replacement`` into its file's
``source`` at its ``location`` (start inclusive, end exclusive, lines and columns from 1) gives the
mutated code.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_PATH = Path(__file__).with_name("mutation-testing-report-schema.json")
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft7Validator(SCHEMA)


def offset(source: str, position: Mapping[str, int]) -> int:
    """The index into ``source`` of a schema position; a position past the end of a line or of
    the file is an error, as a viewer could not place it."""
    lines = source.split("\n")
    line, column = position["line"], position["column"]
    assert 1 <= line <= len(lines), f"line {line} is outside a source of {len(lines)} lines"
    assert 1 <= column <= len(lines[line - 1]) + 1, f"column {column} is outside line {line}"
    return sum(len(text) + 1 for text in lines[: line - 1]) + column - 1


def splice(source: str, mutant: Mapping[str, Any]) -> str:
    """``source`` with the mutant's ``replacement`` written over its ``location``."""
    start = offset(source, mutant["location"]["start"])
    end = offset(source, mutant["location"]["end"])
    assert start <= end, f"mutant {mutant['id']} ends before it starts"
    return source[:start] + mutant["replacement"] + source[end:]


def mutants(report: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Each mutant of the report with the path of its file."""
    for path, file in report["files"].items():
        for mutant in file["mutants"]:
            yield path, mutant


def comparable(report: Any) -> Any:
    """The report less what differs between two honest runs: timings, versions, the shard."""
    if isinstance(report, dict):
        return {
            key: comparable(value)
            for key, value in report.items()
            if key not in ("seconds", "duration", "framework", "versions", "shard")
        }
    if isinstance(report, list):
        return [comparable(value) for value in report]
    return report


def check_report(report: Mapping[str, Any]) -> None:
    """The report is valid under the schema, its mutant IDs are unique, and every mutant's
    location lies inside its file and can take its replacement."""
    errors = sorted(VALIDATOR.iter_errors(report), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])
    ids = collections.Counter(mutant["id"] for _, mutant in mutants(report))
    repeated = [mutant_id for mutant_id, count in ids.items() if count > 1]
    assert not repeated, f"mutant IDs used more than once: {repeated[:10]}"
    for path, mutant in mutants(report):
        assert "replacement" in mutant, f"mutant {mutant['id']} has no replacement"
        splice(report["files"][path]["source"], mutant)
