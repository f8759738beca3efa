"""``--mlbugs-show=ID``: one variant's or mutant's diff and verdict, from the last run, without
running anything.

Every seeded session and target-mode run leaves its verdicts in pytest's cache
(:func:`remember`); ``--mlbugs-show`` finds one there by any of the names a user has seen for
it (the variant's digest, its item name or node ID, a mutant's ID), or in a JSON report when
``--mlbugs-report`` names an existing one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pytest_mlbugs import options

#: the cache key of the last run's verdicts: ``{"kind": "session"|"target", "entries": [...]}``
CACHE_KEY = "mlbugs/last-run"


def remember(config: pytest.Config, kind: str, entries: list[dict[str, Any]]) -> None:
    """Keep this run's verdicts for ``--mlbugs-show`` (each entry: ``names``, ``lines``)."""
    cache = getattr(config, "cache", None)
    if cache is not None:
        cache.set(CACHE_KEY, {"kind": kind, "entries": entries})


def session_entry(nodeid: str, variant: Mapping[str, Any], descriptions: Mapping[str, str]) -> dict[str, Any]:
    """A seeded session's variant (its item's payload) as ``--mlbugs-show`` prints it."""
    lines = [f"{nodeid}: {variant['status']}"]
    for bug in variant["bugs"]:
        alone = f" (alone: {bug['alone']})" if "alone" in bug else ""
        description = bug.get("description") or descriptions.get(bug["id"], "")
        lines.append(f"  {bug['id']} at line {bug['line']}: {description}{alone}")
    if variant.get("property"):
        lines.append(f"  caught by {variant['component']}.{variant['property']}: {variant['message']}")
        lines.append(f"  on the case {variant['case']}")
    elif variant.get("message"):
        lines.append(f"  {variant['message']}")
    lines.extend(variant["diff"].rstrip("\n").splitlines())
    return {"names": [variant["id"], nodeid, nodeid.rsplit("::", 1)[-1]], "lines": lines}


def target_entry(nodeid: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """A target-mode mutant (its record) as ``--mlbugs-show`` prints it."""
    lines = [f"{nodeid}: {record['status']}", f"  {record['file']}:{record['line']} {record['description']}"]
    if record.get("killed_by"):
        lines.append(f"  caught by {record['killed_by']}: {record.get('failure') or ''}")
    elif record.get("detail"):
        lines.append(f"  {record['detail']}")
    lines.extend(record["diff"].rstrip("\n").splitlines())
    return {"names": [record["id"], nodeid], "lines": lines}


def _from_report(path: Path) -> list[dict[str, Any]]:
    """The entries of a JSON report of ours (a session's or target mode's)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    details = data.get("mlbugs", {})
    sources = {m["id"]: m for file in data.get("files", {}).values() for m in file.get("mutants", [])}
    entries = []
    for variant in details.get("variants", []):
        lines = [f"variant {variant['id']} ({variant['component']}): {variant['status']}"]
        lines.extend(f"  {bug['id']} at line {bug['line']}" for bug in variant["bugs"])
        if variant.get("first_failing_property"):
            caught_by = f"{variant['component']}.{variant['first_failing_property']}"
            lines.append(f"  caught by {caught_by}: {variant['message']}")
        replacement = sources.get(variant["id"], {}).get("replacement")
        if replacement:
            lines.append("  the bug's text: " + replacement.replace("\n", "\n  "))
        entries.append({"names": [variant["id"]], "lines": lines})
    for mutant in details.get("mutants", []):
        lines = [
            f"mutant {mutant['id']}: {mutant['status']}",
            f"  {mutant['file']}:{mutant['line']} {mutant['bug_id']}",
        ]
        if mutant.get("killed_by"):
            lines.append(f"  caught by {mutant['killed_by']}")
        elif mutant.get("detail"):
            lines.append(f"  {mutant['detail']}")
        entries.append({"names": [mutant["id"], f"mlbugs-target[{mutant['id']}]"], "lines": lines})
    return entries


def _matches(wanted: str, names: Iterable[str]) -> bool:
    return any(
        wanted == name or name.endswith(f"[{wanted}]") or (len(wanted) >= 6 and name.startswith(wanted))
        for name in names
    )


def show(config: pytest.Config, wanted: str, writer: Any) -> None:
    """Print the entry named ``wanted``; a usage error when none (or several) match."""
    report = config.option.mlbugs_report
    if report is not None and Path(report).is_file():
        entries, where = _from_report(Path(report)), f"{options.REPORT}={report}"
    else:
        cache = getattr(config, "cache", None)
        stored = cache.get(CACHE_KEY, None) if cache is not None else None
        if not isinstance(stored, dict):
            raise pytest.UsageError(
                f"{options.SHOW}={wanted}: no run of pytest-mlbugs is in the pytest cache here yet; run "
                f"a session (--mlbugs-seed) or --mlbugs-target first, or name a report with {options.REPORT}"
            )
        entries, where = stored.get("entries", []), "the last run"
    found = [entry for entry in entries if _matches(wanted, entry["names"])]
    if len(found) != 1:
        what = "no variant or mutant" if not found else f"{len(found)} variants or mutants"
        raise pytest.UsageError(
            f"{options.SHOW}={wanted}: {what} of {where} ({len(entries)} in all) has this ID; "
            "give an ID, item name or node ID from its output"
        )
    for line in found[0]["lines"]:
        writer.line(line)
