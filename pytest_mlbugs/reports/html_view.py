"""What the HTML report shows, computed from the report dict: each mutant with its status in
our words, its categories and our details; the per-category table; the filters' choices; each
mutant's diff, rebuilt from its location and replacement as the schema defines them."""

from __future__ import annotations

import collections
import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pytest_mlbugs.reports import stryker
from pytest_mlbugs.verdict import Status

#: the schema's statuses in our words (the terminal's), which the page shows
STATUS_WORDS = {
    **{schema: status.value for status, schema in stryker.SCHEMA_STATUS.items()},
    stryker.NO_COVERAGE: "no coverage",
    stryker.IGNORED: "ignored",
    "CompileError": "error",
}
#: the table's columns: always the four verdicts, then the others that occur
TABLE_STATUSES = ("detected", "survived", "timeout", "error")
#: the order in which the page lists statuses: what needs attention first
LISTED_STATUSES = ("survived", "no coverage", "timeout", "error", "detected", "ignored")
#: how bad a status is for a line of source that several mutants change (worst first)
SEVERITY = {word: rank for rank, word in enumerate(LISTED_STATUSES)}
UNCATEGORIZED = "uncategorized"


@dataclasses.dataclass(frozen=True)
class MutantView:
    """A mutant of the report as the page shows it."""

    index: int
    file: str
    data: Mapping[str, Any]
    status: str
    categories: tuple[str, ...]
    #: our details for this mutant (``mlbugs.variants`` or ``mlbugs.mutants``), if any
    details: Mapping[str, Any]
    #: the schema locations it covers: one, or one per bug of a variant of several
    locations: tuple[Mapping[str, Any], ...] = ()

    @property
    def category(self) -> str:
        return "+".join(self.categories)

    @property
    def spans(self) -> list[range]:
        """The lines each of its changes covers."""
        found = []
        for where in self.locations or (self.data.get("location") or {},):
            start = int(where.get("start", {}).get("line", 0))
            found.append(range(start, max(start, int(where.get("end", {}).get("line", start))) + 1))
        return found

    @property
    def lines(self) -> range:
        """From its first changed line to its last."""
        spans = self.spans
        return range(min(r.start for r in spans), max(r.stop for r in spans))

    @property
    def marked_lines(self) -> list[int]:
        """The lines it changes, and only those."""
        return sorted({n for r in self.spans for n in r})


def is_target(report: Mapping[str, Any]) -> bool:
    return report.get("mlbugs", {}).get("mode") == "target"


def noun(report: Mapping[str, Any]) -> str:
    return "mutant" if is_target(report) else "variant"


def status_word(schema_status: str) -> str:
    return STATUS_WORDS.get(schema_status, schema_status.lower())


def _details(report: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    mlbugs = report.get("mlbugs", {})
    entries = [*mlbugs.get("variants", []), *mlbugs.get("mutants", [])]
    return {entry["id"]: entry for entry in entries if isinstance(entry, Mapping) and "id" in entry}


def _bug_categories(details: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Each bug ID's category, from the entries that name both: the fallback for a mutant
    that has no entry of its own."""
    found: dict[str, str] = {}
    for entry in details:
        if "bug_id" in entry and "category" in entry:
            found[entry["bug_id"]] = entry["category"]
        bugs, categories = entry.get("bugs", []), entry.get("categories", [])
        if len(bugs) == 1 and len(categories) == 1:
            found[bugs[0]["id"]] = categories[0]
    return found


def _grouped(
    report: Mapping[str, Any], details: Mapping[str, Mapping[str, Any]]
) -> list[tuple[str, list[Any]]]:
    """The schema mutants by file, those of one variant of several bugs (``<id>.1``, ``<id>.2``)
    gathered into one: the page shows variants, each with every change it makes."""
    groups: list[tuple[str, list[Any]]] = []
    seen: dict[str, list[Any]] = {}
    for file, entry in report.get("files", {}).items():
        for data in entry.get("mutants", []):
            mutant_id = str(data.get("id", ""))
            variant, _, number = mutant_id.rpartition(".")
            if not (variant in details and number.isdigit() and "bugs" in details[variant]):
                groups.append((file, [data]))
            elif variant in seen:
                seen[variant].append(data)
            else:
                seen[variant] = [data]
                groups.append((file, seen[variant]))
    return groups


def _variant_data(first: Mapping[str, Any], mine: Mapping[str, Any]) -> dict[str, Any]:
    """A variant of several bugs as one schema-like mutant: its own ID, bugs, status and failure."""
    data = dict(first)
    data["id"] = mine["id"]
    data["mutatorName"] = "+".join(str(bug["id"]) for bug in mine["bugs"])
    data["status"] = stryker.SCHEMA_STATUS.get(Status(mine["status"]), data.get("status"))
    data["statusReason"] = mine.get("message") or ""
    prop = mine.get("first_failing_property")
    data["killedBy"] = [f"{mine['component']}.{prop}"] if prop else []
    return data


def mutants(report: Mapping[str, Any]) -> list[MutantView]:
    """Every mutant (a variant, in a seeded session) of every file, in the report's order, with
    its status in our words and its categories (a variant of several bugs has one per family)."""
    details = _details(report)
    by_bug = _bug_categories(details.values())
    found: list[MutantView] = []
    for file, group in _grouped(report, details):
        first = group[0]
        mine = details.get(first.get("id"), {})
        data: Mapping[str, Any] = first
        if len(group) > 1 or mine == {}:
            variant = str(first.get("id", "")).rpartition(".")[0]
            if variant in details:
                mine = details[variant]
                data = _variant_data(first, mine)
        if "categories" in mine:
            categories = tuple(mine["categories"])
        elif "category" in mine:
            categories = (mine["category"],)
        else:
            bugs = str(data.get("mutatorName", "")).split("+")
            categories = tuple(sorted({by_bug[b] for b in bugs if b in by_bug}))
        found.append(
            MutantView(
                index=len(found),
                file=file,
                data=data,
                status=status_word(str(data.get("status", ""))),
                categories=categories or (UNCATEGORIZED,),
                details=mine,
                locations=tuple(d.get("location") or {} for d in group),
            )
        )
    return found


def unit_names(report: Mapping[str, Any], views: Sequence[MutantView]) -> dict[str, str]:
    """What the page calls each file: its component in a seeded session, else its path."""
    names = {file: file for file in report.get("files", {})}
    if not is_target(report):
        for view in views:
            component = view.details.get("component")
            if component:
                names[view.file] = str(component)
    return names


def table(
    views: Sequence[MutantView], units: Mapping[str, str]
) -> list[tuple[str, str, collections.Counter[str]]]:
    """The per-category table: (component or file, category, counts by status), sorted."""
    cells: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for view in views:
        cells[(units[view.file], view.category)][view.status] += 1
    return [(unit, category, counts) for (unit, category), counts in sorted(cells.items())]


def statuses(views: Sequence[MutantView]) -> list[str]:
    """The statuses a filter offers: the four verdicts, then any other that occurs."""
    present = {view.status for view in views}
    listed = [s for s in LISTED_STATUSES if s in TABLE_STATUSES or s in present]
    return listed + sorted(present - set(listed))


def categories(views: Sequence[MutantView]) -> list[str]:
    return sorted({category for view in views for category in view.categories})


def score(report: Mapping[str, Any], views: Sequence[MutantView]) -> float | None:
    """The report's own score (what the terminal printed), else detected over judged."""
    given = report.get("mlbugs", {}).get("score")
    if isinstance(given, (int, float)):
        return float(given)
    judged = [view for view in views if view.status != "ignored"]
    if not judged:
        return None
    return 100.0 * sum(view.status == "detected" for view in judged) / len(judged)


# -- the diff of a mutant -----------------------------------------------------------------------

Segment = tuple[str, bool]  # text, and whether it is the changed part
#: a line of a diff: its sign (``-``, ``+``, `` `` for context, ``@`` for a hunk's header), its
#: line number (in the source for ``-`` and context, in the mutant for ``+``) and its segments
Row = tuple[str, "int | None", list[Segment]]

_HUNK = re.compile(r"@@ -(\d+)(?:,\d+)? \+(\d+)")


def mutant_diff(source: str, data: Mapping[str, Any], details: Mapping[str, Any]) -> list[Row]:
    """A mutant's diff: the unified diff of our details where the report has it (every change
    of a variant of several bugs, with context), else rebuilt from the schema's fields."""
    unified = details.get("diff")
    if isinstance(unified, str) and _HUNK.search(unified):
        return unified_rows(unified)
    return replacement_rows(source, data)


def unified_rows(diff: str) -> list[Row]:
    """A unified diff's lines, the characters that differ marked in each removed line and the
    added line that takes its place."""
    rows: list[Row] = []
    old = new = 0
    for line in diff.splitlines():
        hunk = _HUNK.match(line)
        if hunk:
            old, new = int(hunk.group(1)), int(hunk.group(2))
            rows.append(("@", None, [(line, False)]))
        elif not rows or line.startswith("\\"):  # the file names; "\ No newline at end of file"
            continue
        elif line.startswith("-"):
            rows.append(("-", old, [(line[1:], False)]))
            old += 1
        elif line.startswith("+"):
            rows.append(("+", new, [(line[1:], False)]))
            new += 1
        else:
            rows.append((" ", old, [(line[1:], False)]))
            old, new = old + 1, new + 1
    return _mark_pairs(rows)


def _mark_pairs(rows: list[Row]) -> list[Row]:
    """Mark what changed where a run of removed lines is followed by as many added lines."""
    marked = list(rows)
    n = 0
    while n < len(marked):
        removed = n
        while removed < len(marked) and marked[removed][0] == "-":
            removed += 1
        added = removed
        while added < len(marked) and marked[added][0] == "+":
            added += 1
        if removed - n and removed - n == added - removed:
            for k in range(removed - n):
                minus, plus = marked[n + k], marked[removed + k]
                before, after = _changed(minus[2][0][0], plus[2][0][0])
                marked[n + k] = (minus[0], minus[1], before)
                marked[removed + k] = (plus[0], plus[1], after)
        n = max(added, n + 1)
    return marked


def _changed(before: str, after: str) -> tuple[list[Segment], list[Segment]]:
    """Both texts as segments, with what lies between their common start and end marked."""
    start = _same_start(before, after)
    end = _same_start(before[start:][::-1], after[start:][::-1])

    def split(text: str) -> list[Segment]:
        stop = len(text) - end
        return [(text[:start], False), (text[start:stop], True), (text[stop:], False)]

    return split(before), split(after)


def replacement_rows(source: str, data: Mapping[str, Any]) -> list[Row]:
    """The lines a mutant changes, from the schema alone: ``-`` the source's lines that its
    location spans, ``+`` the same lines with that span replaced by ``replacement`` (the
    schema's meaning). Without a usable location, the replacement alone."""
    replacement = str(data.get("replacement", ""))
    lines = source.splitlines(keepends=True)
    where = data.get("location") or {}
    try:
        start_line, start_col = int(where["start"]["line"]), int(where["start"]["column"])
        end_line, end_col = int(where["end"]["line"]), int(where["end"]["column"])
    except (KeyError, TypeError, ValueError):
        start_line = end_line = 0
    if not 1 <= start_line <= end_line <= len(lines):
        return [("+", None, [(line, True)]) for line in replacement.splitlines()]
    last = lines[end_line - 1].rstrip("\r\n")
    prefix, suffix = lines[start_line - 1][: max(start_col - 1, 0)], last[max(end_col - 1, 0) :]
    spanned = "".join(lines[start_line - 1 : end_line]).rstrip("\r\n")
    span = spanned[len(prefix) : len(spanned) - len(suffix)]
    before, after = _changed(span, replacement)
    old = _split_lines([(prefix, False), *before, (suffix, False)])
    new = _split_lines([(prefix, False), *after, (suffix, False)])
    return [("-", start_line + n, row) for n, row in enumerate(old)] + [("+", None, row) for row in new]


def _same_start(a: str, b: str) -> int:
    """How many characters ``a`` and ``b`` share at their start."""
    return next((n for n, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def _split_lines(segments: Iterable[Segment]) -> list[list[Segment]]:
    rows: list[list[Segment]] = [[]]
    for text, marked in segments:
        for n, piece in enumerate(text.split("\n")):
            if n:
                rows.append([])
            if piece:
                rows[-1].append((piece, marked))
    return rows
