"""The shape of the package, measured: no import circles, small modules and classes, private
names kept private, and every function-level import explained.

The walk reads the source with :mod:`ast` (nothing is imported), over the three folders that
ship as ``pytest_mlbugs``: the package itself, ``mutators/`` and ``reference_impls/``.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import ROOT

#: folder -> the dotted name it ships under (pyproject.toml's package-dir)
PACKAGES = {
    ROOT / "pytest_mlbugs": "pytest_mlbugs",
    ROOT / "mutators": "pytest_mlbugs.mutators",
    ROOT / "reference_impls": "pytest_mlbugs.reference_impls",
}
MAX_MODULE_LINES = 500
MAX_CLASS_LINES = 250
#: modules that are mostly data (tables of names, constants), exempt from the module limit
DATA_TABLES: frozenset[str] = frozenset()


@dataclasses.dataclass
class Module:
    name: str
    path: Path
    tree: ast.Module
    lines: list[str]

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"


def _modules() -> dict[str, Module]:
    found: dict[str, Module] = {}
    for folder, dotted in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join((dotted, *parts))
            text = path.read_text(encoding="utf-8")
            found[name] = Module(name, path, ast.parse(text), text.splitlines())
    return found


MODULES = _modules()


def _type_checking_only(tree: ast.Module) -> set[ast.AST]:
    """The import statements under ``if TYPE_CHECKING:``: never executed."""
    hidden: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(child for stmt in node.body for child in ast.walk(stmt))
    return hidden


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: Module) -> Iterator[tuple[ast.stmt, str, list[str]]]:
    """Every executed import of a pytest_mlbugs module: the statement, the module it imports
    from, and the names it takes (empty for ``import x``)."""
    hidden = _type_checking_only(module.tree)
    for node in ast.walk(module.tree):
        if node in hidden:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("pytest_mlbugs"):
                    yield node, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, node)
            if source.startswith("pytest_mlbugs"):
                yield node, source, [alias.name for alias in node.names]


def dependencies(module: Module) -> set[str]:
    """The pytest_mlbugs modules that importing ``module`` runs (a name taken from a package
    that is a submodule counts as that submodule)."""
    found: set[str] = set()
    for _, source, names in imports(module):
        submodules = [f"{source}.{name}" for name in names if f"{source}.{name}" in MODULES]
        found.update(submodules or [source])
    found.discard(module.name)
    return {name for name in found if name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph``, as the list of modules around it, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_circle_and_only_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_package_has_no_import_circle():
    graph = {name: dependencies(module) for name, module in MODULES.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_walk_sees_the_package_whole():
    """The control: the walk must see the modes, the isolation package and the catalogue, or
    the other tests here prove nothing."""
    for name in (
        "pytest_mlbugs.plugin",
        "pytest_mlbugs.isolation.workers",
        "pytest_mlbugs.targeting.session",
        "pytest_mlbugs.practice.rewrites",
        "pytest_mlbugs.mutators.softmax_wrong_dim",
        "pytest_mlbugs.reference_impls.attention",
    ):
        assert name in MODULES
    assert "pytest_mlbugs.isolation.child" in dependencies(MODULES["pytest_mlbugs.isolation.workers"])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_module_is_over_the_line_limit(name):
    if name in DATA_TABLES:
        return
    module = MODULES[name]
    assert len(module.lines) <= MAX_MODULE_LINES, f"{module.path} has {len(module.lines)} lines"


def test_no_class_is_over_the_line_limit():
    long = [
        f"{module.path}:{node.lineno} {node.name}: {(node.end_lineno or node.lineno) - node.lineno + 1} lines"
        for module in MODULES.values()
        for node in ast.walk(module.tree)
        if isinstance(node, ast.ClassDef)
        and (node.end_lineno or node.lineno) - node.lineno + 1 > MAX_CLASS_LINES
    ]
    assert not long, long


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_module_imports_another_modules_private_names():
    taken = [
        f"{module.path}:{node.lineno} takes {name} from {source}"
        for module in MODULES.values()
        for node, source, names in imports(module)
        for name in names
        if _is_private(name) and source != module.name
    ]
    assert not taken, taken


def test_no_module_reads_a_private_name_of_an_imported_module():
    """``runner._alarm``-style access: an attribute of a module imported as a name."""
    reads = []
    for module in MODULES.values():
        aliases = {
            alias.asname or alias.name
            for node, source, names in imports(module)
            if isinstance(node, ast.ImportFrom)
            for alias in node.names
            if f"{source}.{alias.name}" in MODULES
        }
        for node in ast.walk(module.tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and _is_private(node.attr)
            ):
                reads.append(f"{module.path}:{node.lineno} {node.value.id}.{node.attr}")
    assert not reads, reads


def _explained(module: Module, node: ast.stmt) -> bool:
    """A comment on the import's line, or on a line above it within its run of imports (the
    comment above the first of them speaks for the run)."""
    line = node.lineno - 1  # 0-based
    if "#" in module.lines[line]:
        return True
    above = line - 1
    while above >= 0 and module.lines[above].strip().startswith(("import ", "from ")):
        above -= 1
    return above >= 0 and module.lines[above].strip().startswith("#")


def _function_level_imports(module: Module) -> Iterator[ast.stmt]:
    hidden = _type_checking_only(module.tree)
    seen: set[ast.AST] = set()
    for function in ast.walk(module.tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.Import | ast.ImportFrom) and node not in hidden and node not in seen:
                    seen.add(node)
                    yield node


def test_every_function_level_import_says_why():
    silent = [
        f"{module.path}:{node.lineno} {ast.unparse(node)}"
        for module in MODULES.values()
        for node in _function_level_imports(module)
        if not _explained(module, node)
    ]
    assert not silent, silent


def test_tests_patch_no_private_name_through_a_string():
    patched = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and ast.unparse(node.func).endswith("setattr")):
                continue
            texts = [
                a.value for a in node.args[:2] if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
            if any(_is_private(text.rsplit(".", 1)[-1]) for text in texts):
                patched.append(f"{path}:{node.lineno} {ast.unparse(node)[:80]}")
    assert not patched, patched
