"""``--mlbugs-list``: the catalogue of bugs, one line each."""

from __future__ import annotations

from _pytest._io import TerminalWriter

from pytest_mlbugs.registry import Registry


def catalogue_rows(registry: Registry) -> list[tuple[str, str, str, str, str]]:
    return [
        (m.bug_id, ",".join(m.components), m.category.value, m.description, m.origin)
        for m in registry.sorted_mutators()
    ]


def print_catalogue(registry: Registry, writer: TerminalWriter) -> None:
    rows = catalogue_rows(registry)
    header = ("bug ID", "components", "category", "description", "origin")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(3)]
    for bug_id, components, category, description, origin in (header, *rows):
        suffix = "" if origin in ("pytest-mlbugs", "origin") else f"  [{origin}]"
        writer.line(
            f"{bug_id.ljust(widths[0])}  {components.ljust(widths[1])}  {category.ljust(widths[2])}  "
            f"{description}{suffix}"
        )
    writer.line(f"{len(rows)} bug categories over {len(registry.components)} components")
