"""``--mlbugs-list``: the catalogue of bugs, one line each, and where each came from."""

from __future__ import annotations

from _pytest._io import TerminalWriter

from pytest_mlbugs.registry import BUILTIN_ORIGIN, Registry


def catalogue_rows(registry: Registry) -> list[tuple[str, str, str, str, str]]:
    return [
        (m.bug_id, ",".join(m.components), m.category.value, m.description, m.origin)
        for m in registry.sorted_mutators()
    ]


def print_catalogue(registry: Registry, writer: TerminalWriter) -> None:
    """One line per mutator; those not shipped with pytest-mlbugs end with ``[origin]``, and
    components from elsewhere are listed after them with theirs."""
    rows = catalogue_rows(registry)
    header = ("bug ID", "components", "category", "description", "origin")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(3)]
    for bug_id, components, category, description, origin in (header, *rows):
        suffix = "" if origin in (BUILTIN_ORIGIN, "origin") else f"  [{origin}]"
        writer.line(
            f"{bug_id.ljust(widths[0])}  {components.ljust(widths[1])}  {category.ljust(widths[2])}  "
            f"{description}{suffix}"
        )
    for name in sorted(registry.components):
        component = registry.components[name]
        if component.origin != BUILTIN_ORIGIN:
            writer.line(f"component {name}: {component.suite.contract}  [{component.origin}]")
    writer.line(f"{len(rows)} bug categories over {len(registry.components)} components")
