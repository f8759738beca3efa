"""Merge the JSON reports of a sharded session (``--mlbugs-shard=I/N``) into the report of the
whole session, as one unsharded run would have written it (timings aside).

    python -m pytest_mlbugs.merge_reports OUT.json SHARD1.json SHARD2.json ...

Every shard judges every reference (a verdict on a variant means nothing before its reference
passes), so references appear once per shard and are merged by component; variants are
disjoint between shards and are put back in session order by their ``ordinal``. The reports
must come from the same session (seed and settings) and cover shards 1 to N exactly once.
"""

from __future__ import annotations

import collections
import copy
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_mlbugs.atomicio import write_json_atomically
from pytest_mlbugs.session.report import mutant_ids
from pytest_mlbugs.verdict import Status


class MergeError(Exception):
    """The reports cannot be merged; the message is one line that says why."""


def merge_reports(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The report of the whole session from its shards' reports."""
    if not reports:
        raise MergeError("no reports to merge; give the report of every shard")
    shards = [_shard_of(index, report) for index, report in enumerate(reports)]
    total = shards[0][1]
    if any(n != total for _, n in shards):
        raise MergeError(
            f"the reports come from different shardings: {sorted({n for _, n in shards})} shards"
        )
    seen = collections.Counter(i for i, _ in shards)
    duplicated = sorted(i for i, count in seen.items() if count > 1)
    missing = sorted(set(range(1, total + 1)) - set(seen))
    if duplicated:
        raise MergeError(f"shard {duplicated[0]}/{total} is given more than once")
    if missing:
        raise MergeError(f"shard {missing[0]}/{total} is missing; give the report of every shard")
    first = reports[0]
    session = _session_key(first)
    for report in reports[1:]:
        if _session_key(report) != session:
            raise MergeError("the reports come from different sessions (seed or settings differ)")

    merged = copy.deepcopy(dict(first))
    merged["mlbugs"]["settings"]["shard"] = None
    variants: list[dict[str, Any]] = []
    mutants: dict[str, list[tuple[int, dict[str, Any]]]] = collections.defaultdict(list)
    references: dict[str, dict[str, Any]] = {}
    for report in reports:
        shard_variants = report["mlbugs"]["variants"]
        variants.extend(shard_variants)
        # a session holds no variant twice, and each bug of a variant is a mutant of its own
        ordinals = {mutant_id: v["ordinal"] for v in shard_variants for mutant_id in mutant_ids(v)}
        for path, file in report["files"].items():
            merged["files"].setdefault(path, {**file, "mutants": []})
            for mutant in file["mutants"]:  # in the shard's session order, as build_report writes them
                if mutant["id"] not in ordinals:
                    raise MergeError(f"mutant {mutant['id']} of {path} is no variant of its report")
                mutants[path].append((ordinals[mutant["id"]], mutant))
        for reference in report["mlbugs"]["references"]:
            kept = references.get(reference["component"])
            if kept is None or (kept["status"] == Status.PASSED and reference["status"] != Status.PASSED):
                references[reference["component"]] = reference  # a failure anywhere stays visible
    ordinal_counts = collections.Counter(v["ordinal"] for v in variants)
    if any(count > 1 for count in ordinal_counts.values()):
        raise MergeError("two shards judged the same variant; were they run with the same --mlbugs-shard?")
    for path, file in merged["files"].items():
        file["mutants"] = [mutant for _, mutant in sorted(mutants[path], key=lambda pair: pair[0])]
    variants.sort(key=lambda v: v["ordinal"])
    merged["mlbugs"]["variants"] = variants
    merged["mlbugs"]["references"] = [references[name] for name in sorted(references)]
    detected = sum(v["status"] == Status.DETECTED for v in variants)
    merged["mlbugs"]["score"] = 100.0 * detected / len(variants) if variants else None
    return merged


def _shard_of(index: int, report: Mapping[str, Any]) -> tuple[int, int]:
    try:
        shard = report["mlbugs"]["settings"]["shard"]
    except (KeyError, TypeError):
        raise MergeError(f"report {index + 1} is not a pytest-mlbugs report") from None
    if not (isinstance(shard, list) and len(shard) == 2 and all(isinstance(x, int) for x in shard)):
        raise MergeError(f"report {index + 1} is not the report of a shard (run with --mlbugs-shard=I/N)")
    return shard[0], shard[1]


def _session_key(report: Mapping[str, Any]) -> str:
    settings = {k: v for k, v in report["mlbugs"]["settings"].items() if k != "shard"}
    return json.dumps([report["mlbugs"]["seed"], settings], sort_keys=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2:
        print(
            "usage: python -m pytest_mlbugs.merge_reports OUT.json SHARD1.json [SHARD2.json ...]",
            file=sys.stderr,
        )
        return 2
    out, *inputs = (Path(arg) for arg in args)
    reports = []
    for path in inputs:
        try:
            reports.append(json.loads(path.read_bytes()))
        except (OSError, ValueError) as exc:
            print(f"error: cannot read {path}: {exc}", file=sys.stderr)
            return 2
    try:
        merged = merge_reports(reports)
    except MergeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if out.resolve() in {path.resolve() for path in inputs}:
        print(f"error: {out} is one of the inputs; write the merged report elsewhere", file=sys.stderr)
        return 2
    write_json_atomically(out, merged)
    variants = merged["mlbugs"]["variants"]
    print(
        f"merged {len(reports)} shards: {len(variants)} variants, "
        f"score {merged['mlbugs']['score']}; wrote {out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
