"""The HTML report (``--mlbugs-html=DIR``): one self-contained ``index.html`` made from the
same report dict as the JSON (:mod:`.stryker`'s schema, our details under ``mlbugs``).

The page is rendered here, in Python, so that it reads the same with scripts off; its small
script (``html_page.js``) adds the filters by status and category, which it keeps in the URL's
hash (``#status=survived&category=shapes``) so that a filtered view can be linked to.
Everything is inline (style, script, and the report itself as JSON in a
``<script type="application/json">``), and a Content-Security-Policy forbids every fetch: the
page opens from disk, without a network. Every text from the report (sources, diffs, messages)
is escaped, and the embedded JSON cannot close its element.
"""

from __future__ import annotations

import html
import json
import urllib.parse
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pytest_mlbugs.atomicio import write_text_atomically
from pytest_mlbugs.options import HTML_MARKER
from pytest_mlbugs.reports.html_view import (
    SEVERITY,
    TABLE_STATUSES,
    MutantView,
    Row,
    categories,
    is_target,
    mutant_diff,
    mutants,
    noun,
    score,
    statuses,
    table,
    unit_names,
)

INDEX = "index.html"
#: the element that holds the report as JSON
DATA_ID = "mlbugs-report"
#: no fetch of any kind: what the page needs is in it
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
#: statuses that count as not detected, for the page's "only what was not detected" link
NOT_DETECTED = ("survived", "no coverage", "timeout", "error")


def write_html(report: Mapping[str, Any], folder: Path) -> Path:
    """Write ``folder/index.html`` atomically (making ``folder``, whose parent must exist) and
    return its path."""
    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    index = folder / INDEX
    write_text_atomically(index, render(report))
    return index


def e(text: Any) -> str:
    """Text for an element's content or a quoted attribute."""
    return html.escape(str(text), quote=True)


def embedded_json(report: Mapping[str, Any]) -> str:
    """The report as JSON that no ``</script>``, ``<!--`` or ``]]>`` in a source or a message
    can end early: every ``<``, ``>`` and ``&`` is a JSON escape."""
    text = json.dumps(report, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def hash_link(**filters: Sequence[str]) -> str:
    """A link to this page with these filters (the script reads them from the hash)."""
    parts = [
        name + "=" + ",".join(urllib.parse.quote(value, safe="") for value in values)
        for name, values in filters.items()
    ]
    return "#" + "&".join(parts)


def _asset(name: str) -> str:
    text = resources.files("pytest_mlbugs.reports").joinpath(name).read_text(encoding="utf-8")
    if "</" in text:  # would close the inline element it goes into
        raise ValueError(f"{name} contains '</', which would end its inline element")
    return text


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _status_class(status: str) -> str:
    return "st-" + status.replace(" ", "-")


def render(report: Mapping[str, Any]) -> str:
    views = mutants(report)
    units = unit_names(report, views)
    value = score(report, views)
    by_file: dict[str, list[MutantView]] = {file: [] for file in report.get("files", {})}
    for view in views:
        by_file[view.file].append(view)
    title = f"mlbugs report: {_percent(value)} detected"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            HTML_MARKER,
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{e(title)}</title>",
            f"<style>\n{_asset('html_page.css')}</style>",
            "</head>",
            f'<body data-noun="{noun(report)}" data-severity="{e(json.dumps(list(SEVERITY)))}">',
            header(report, views),
            "<main>",
            summary(report, views, units, value),
            filters(report, views),
            *(
                file_section(n, file, units[file], report["files"][file], by_file[file], noun(report))
                for n, file in enumerate(by_file)
            ),
            "</main>",
            footer(report),
            f'<script type="application/json" id="{DATA_ID}">{embedded_json(report)}</script>',
            f"<script>\n{_asset('html_page.js')}</script>",
            "</body>",
            "</html>",
            "",
        ]
    )


def header(report: Mapping[str, Any], views: Sequence[MutantView]) -> str:
    mlbugs = report.get("mlbugs", {})
    words = [_plural(len(views), noun(report))]
    if is_target(report):
        what = "mutation testing of your code"
        options = [f"--mlbugs-target={t}" for t in mlbugs.get("targets", [])]
        options.append(f"--mlbugs-seed={mlbugs.get('seed')}")
        if mlbugs.get("count") is not None:
            options.append(f"--mlbugs-count={mlbugs['count']}")
        if mlbugs.get("fail_under") is not None:
            options.append(f"--mlbugs-fail-under={mlbugs['fail_under']:g}")
        words.append(_plural(len(report.get("files", {})), "file"))
    else:
        what = "seeded session"
        settings = mlbugs.get("settings", {})
        options = [f"--mlbugs-seed={mlbugs.get('seed')}"]
        for key in ("count", "max_bugs", "shard"):
            if settings.get(key) not in (None, 1):
                options.append(f"--mlbugs-{key.replace('_', '-')}={settings[key]}")
        words.append(_plural(len(report.get("files", {})), "component"))
    lines = [
        '<header class="top">',
        f'<h1>pytest-mlbugs <span class="what">{e(what)}</span></h1>',
        f'<p class="run"><code>{e(" ".join(options))}</code> · {e(", ".join(words))}</p>',
    ]
    references = mlbugs.get("references", [])
    if references:
        failing = [r["component"] for r in references if r.get("status") != "passed"]
        cls = "refs bad" if failing else "refs"
        text = f"references: {len(references) - len(failing)} of {len(references)} pass their suites"
        if failing:
            text += f"; failing: {', '.join(failing)} (their variants' verdicts cannot be trusted)"
        lines.append(f'<p class="{cls}">{e(text)}</p>')
    lines.append("</header>")
    return "\n".join(lines)


def summary(
    report: Mapping[str, Any], views: Sequence[MutantView], units: Mapping[str, str], value: float | None
) -> str:
    thresholds = report.get("thresholds", {})
    band = "none" if value is None else "high" if value >= thresholds.get("high", 80) else (
        "mid" if value >= thresholds.get("low", 60) else "low"
    )  # fmt: skip
    detected = sum(view.status == "detected" for view in views)
    judged = sum(view.status != "ignored" for view in views)
    width = 0.0 if value is None else max(0.0, min(100.0, value))
    score_box = [
        f'<div class="score band-{band}" id="score">',
        f'<div class="score-value">{_percent(value)}</div>',
        '<div class="score-label">detection score</div>',
        f'<div class="bar"><span style="width: {width:.1f}%"></span></div>',
        f"<p>{detected} of {_plural(judged, noun(report))} detected; "
        "timeouts and errors are not detections</p>",
        "</div>",
    ]
    present = statuses(views)
    columns = [*TABLE_STATUSES, *(s for s in present if s not in TABLE_STATUSES)]
    first = "file" if is_target(report) else "component"
    head = "".join(f'<th class="num {_status_class(s)}">{e(s)}</th>' for s in columns)
    rows = [f'<tr><th>{first}</th><th>category</th><th class="num">{noun(report)}s</th>{head}</tr>']
    totals = {s: 0 for s in columns}
    for unit, category, counts in table(views, units):
        cells = []
        for status in columns:
            totals[status] += counts[status]
            hot = " hot" if counts[status] and status in NOT_DETECTED else ""
            cells.append(f'<td class="num{hot}" data-status="{e(status)}">{counts[status]}</td>')
        link = hash_link(category=category.split("+"))
        rows.append(
            f'<tr><td>{e(unit)}</td><td><a href="{e(link)}">{e(category)}</a></td>'
            f'<td class="num">{sum(counts.values())}</td>{"".join(cells)}</tr>'
        )
    total_cells = "".join(f'<td class="num" data-status="{e(s)}">{totals[s]}</td>' for s in columns)
    rows.append(
        f'<tr class="total"><td>total</td><td></td><td class="num">{len(views)}</td>{total_cells}</tr>'
    )
    return "\n".join(
        [
            '<section id="summary">',
            *score_box,
            '<table class="counts" id="table">',
            *rows,
            "</table>",
            "</section>",
        ]
    )


def filters(report: Mapping[str, Any], views: Sequence[MutantView]) -> str:
    def chips(name: str, values: Sequence[str], count: Any) -> str:
        boxes = "".join(
            f'<label class="chip {_status_class(v) if name == "status" else ""}">'
            f'<input type="checkbox" name="{name}" value="{e(v)}" checked> {e(v)} '
            f'<span class="n">{count(v)}</span></label>'
            for v in values
        )
        return f'<div class="filter" data-filter="{name}"><span class="legend">{name}</span>{boxes}</div>'

    return "\n".join(
        [
            '<section id="filters" aria-label="filters">',
            chips("status", statuses(views), lambda s: sum(v.status == s for v in views)),
            chips("category", categories(views), lambda c: sum(c in v.categories for v in views)),
            f'<p class="quick"><a href="#all">show all</a> · '
            f'<a href="{e(hash_link(status=NOT_DETECTED))}">only what was not detected</a> · '
            f'<span id="shown">{len(views)} of {_plural(len(views), noun(report))} shown</span></p>',
            "</section>",
        ]
    )


def file_section(
    number: int, file: str, unit: str, entry: Mapping[str, Any], views: Sequence[MutantView], noun: str
) -> str:
    source = str(entry.get("source", ""))
    counts: dict[str, int] = {}
    for view in sorted(views, key=lambda v: SEVERITY.get(v.status, len(SEVERITY))):
        counts[view.status] = counts.get(view.status, 0) + 1
    tally = ", ".join(f'<span class="{_status_class(s)}">{n} {e(s)}</span>' for s, n in counts.items())
    heading = f'<span class="unit">{e(unit)}</span>'
    if unit != file:
        heading += f' <code class="path">{e(file)}</code>'
    ordered = sorted(views, key=lambda v: (v.lines.start, v.index))
    return "\n".join(
        [
            f'<section class="file" id="f{number}" data-file="{e(file)}">',
            f'<h2>{heading} <span class="tally">{_plural(len(views), noun)}'
            f"{': ' + tally if tally else ''}</span></h2>",
            f'<details class="source"{" open" if views else ""}><summary>source, each {noun} marked '
            "on the lines it changes</summary>",
            source_listing(number, source, views),
            "</details>",
            '<div class="mutants">',
            *(card(view, number, source) for view in ordered),
            "</div>",
            "</section>",
        ]
    )


def source_listing(number: int, source: str, views: Sequence[MutantView]) -> str:
    covering: dict[int, list[MutantView]] = {}
    starting: dict[int, list[MutantView]] = {}
    for view in views:
        for span in view.spans:
            starting.setdefault(span.start, []).append(view)
        for line in view.marked_lines:
            covering.setdefault(line, []).append(view)
    rows = []
    for n, text in enumerate(source.splitlines(), start=1):
        here = covering.get(n, [])
        attributes = f'class="line" id="f{number}-L{n}"'
        if here:
            worst = min(here, key=lambda v: SEVERITY.get(v.status, len(SEVERITY))).status
            indices = " ".join(str(v.index) for v in here)
            attributes = f'class="line {_status_class(worst)}" id="f{number}-L{n}" data-m="{indices}"'
        marks = "".join(
            f'<a class="mark {_status_class(v.status)}" href="#m{v.index}" data-m="{v.index}" '
            f'title="{e(v.status)}: {e(v.data.get("id", ""))} {e(v.data.get("mutatorName", ""))}">'
            f"{e(v.status[:1].upper())}</a>"
            for v in starting.get(n, [])
        )
        rows.append(
            f'<div {attributes}><span class="ln">{n}</span><span class="marks">{marks}</span>'
            f"<code>{e(text)}</code></div>"
        )
    return f'<div class="code">{"".join(rows)}</div>'


def diff_block(rows: Sequence[Row]) -> str:
    lines = []
    for sign, number, segments in rows:
        text = "".join(f"<mark>{e(t)}</mark>" if marked else e(t) for t, marked in segments if t)
        if sign == "@":
            lines.append(f'<span class="hunk">{text}</span>')
            continue
        cls = {"-": "del", "+": "ins"}.get(sign, "ctx")
        shown = "" if number is None else number
        lines.append(f'<span class="{cls}"><span class="ln">{shown}</span>{sign} {text}</span>')
    return f'<pre class="diff">{"".join(lines)}</pre>'


def card(view: MutantView, number: int, source: str) -> str:
    data, details = view.data, view.details
    status_class = _status_class(view.status)
    lines = view.lines
    where = f"line {lines.start}" if len(lines) == 1 else f"lines {lines.start}-{lines.stop - 1}"
    facts: list[tuple[str, str]] = []
    if data.get("killedBy"):
        facts.append(("killed by", ", ".join(f"<code>{e(k)}</code>" for k in data["killedBy"])))
    if data.get("statusReason"):
        facts.append(("reason", f'<pre class="reason">{e(data["statusReason"])}</pre>'))
    if details.get("case"):
        facts.append(("failing case", f"<code>{e(details['case'])}</code>"))
    if details.get("properties") and view.status != "detected":
        shown = ", ".join(f"<code>{e(p)}</code>" for p in details["properties"])
        facts.append(("would be caught by", f"{shown} (the contract's properties)"))
    bugs = details.get("bugs", [])
    if len(bugs) > 1:
        alone = "".join(
            f"<li><code>{e(b.get('id'))}</code> at line {e(b.get('line'))}: alone "
            f"{e(b.get('alone', 'not judged'))}"
            f"{' by <code>' + e(b['caught_by']) + '</code>' if b.get('caught_by') else ''}</li>"
            for b in bugs
        )
        facts.append(("each bug alone", f"<ul>{alone}</ul>"))
    if "coveredBy" in data:
        tests = "".join(f"<li><code>{e(t)}</code></li>" for t in data["coveredBy"])
        summary = _plural(len(data["coveredBy"]), "test") + " ran it"
        facts.append(("tests", f"<details><summary>{summary}</summary><ul>{tests}</ul></details>"))
    facts_html = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in facts)
    return "\n".join(
        [
            f'<article class="mutant {status_class}" id="m{view.index}" data-m="{view.index}" '
            f'data-status="{e(view.status)}" data-categories="{e(json.dumps(list(view.categories)))}">',
            f'<header><span class="status {status_class}">{e(view.status)}</span> '
            f'<code class="mid">{e(data.get("id", ""))}</code> '
            f'<a class="where" href="#f{number}-L{lines.start}">{where}</a> '
            f'<span class="cats">{e(view.category)}</span></header>',
            f'<p class="what"><code class="mutator">{e(data.get("mutatorName", ""))}</code> '
            f"{e(data.get('description', ''))}</p>",
            diff_block(mutant_diff(source, data, details)),
            f"<dl>{facts_html}</dl>" if facts else "",
            "</article>",
        ]
    )


def footer(report: Mapping[str, Any]) -> str:
    framework = report.get("framework", {})
    name = framework.get("name", "pytest-mlbugs")
    versions = ", ".join(f"{k} {v}" for k, v in framework.get("dependencies", {}).items() if k != name)
    return (
        f"<footer><p>written by {e(name)} "
        f"{e(framework.get('version', ''))}; {e(versions)}. The report's JSON "
        f"(mutation-testing-report-schema) is inside this page, in the element "
        f"<code>#{DATA_ID}</code>.</p></footer>"
    )
