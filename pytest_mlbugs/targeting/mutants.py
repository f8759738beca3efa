"""Mutants of the user's own files: every site of every selected mutator, and what each changes.

A mutant is one bug at one site of one target file, held in memory as the whole mutated source.
It records the lines of the original it changes (``changed_lines``): ignore comments and the
clean run's coverage are both matched against those lines, not against the libcst node around
them (a removed ``model.eval()`` changes one line, although its site is the whole block).
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import hashlib
import importlib.util
import io
import os
import re
import tokenize
from collections.abc import Iterable, Sequence
from pathlib import Path

import libcst as cst

from pytest_mlbugs.loader import LoadError, read_user_source
from pytest_mlbugs.mutation import Mutator, MutatorError, apply_sites, find_sites, parse, unified_diff
from pytest_mlbugs.seeds import Pick

#: ``# mlbugs: ignore[bug_a, bug_b] the reason``
IGNORE_COMMENT = re.compile(r"#\s*mlbugs:\s*ignore\[([^\]]*)\]\s*(.*)$")


@dataclasses.dataclass(frozen=True)
class TargetFile:
    path: Path  # absolute, resolved
    display: str  # relative to the rootdir where possible
    source: str


@dataclasses.dataclass(frozen=True)
class Mutant:
    id: str
    file: TargetFile
    bug_id: str
    site: int
    source: str
    diff: str
    changed_lines: tuple[int, ...]
    #: a changed line outside every function body (module or class level, a decorator, a default)
    module_level: bool
    ignored_reason: str | None = None
    #: the bug written at this site, in the words of its context (the mutator's own otherwise)
    description: str = ""

    @property
    def first_line(self) -> int:
        return self.changed_lines[0]

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.file.display}\x1f{self.source}".encode()).hexdigest()


def ignore_comments(source: str) -> dict[int, tuple[frozenset[str], str]]:
    """Line -> (bug IDs, reason) of every ``# mlbugs: ignore[...]`` comment.

    The comment ends the line it speaks for, or stands alone on the line above it.
    """
    found: dict[int, tuple[frozenset[str], str]] = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return found
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        match = IGNORE_COMMENT.search(token.string)
        if match:
            ids = frozenset(part.strip() for part in match.group(1).split(",") if part.strip())
            # a comment alone on its line speaks for the line below it
            line = token.start[0] + 1 if token.line.lstrip().startswith("#") else token.start[0]
            found[line] = (ids, match.group(2).strip() or "no reason given")
    return found


def unknown_pragma_ids(
    files: Sequence[TargetFile], known: Iterable[str]
) -> list[tuple[TargetFile, int, str]]:
    """(file, line, message) for every bug ID in an ``# mlbugs: ignore[...]`` pragma that no
    mutator has (a typo would otherwise leave its mutant judged, silently), with the closest
    known IDs."""
    known = sorted(known)
    found: list[tuple[TargetFile, int, str]] = []
    for target in files:
        for line, (ids, _) in sorted(ignore_comments(target.source).items()):
            for bug_id in sorted(ids - {"*", *known}):
                close = difflib.get_close_matches(bug_id, known, n=2)
                hint = f"did you mean {' or '.join(close)}?" if close else "see pytest --mlbugs-list"
                message = f"unknown bug ID {bug_id!r} in '# mlbugs: ignore[...]'; {hint}"
                found.append((target, line, message))
    return found


def function_body_lines(source: str) -> set[int]:
    """Lines inside some function's body: what a test executes, rather than an import."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            body = node.body if isinstance(node.body, list) else [node.body]
            first = body[0].lineno
            # a docstring-only or one-line body still counts from its first statement
            lines.update(range(first, (node.end_lineno or first) + 1))
    return lines


def changed_lines(before: str, after: str) -> tuple[int, ...]:
    """1-based lines of ``before`` that the mutation replaces, deletes or inserts beside."""
    old = before.splitlines()
    matcher = difflib.SequenceMatcher(a=old, b=after.splitlines(), autojunk=False)
    lines: set[int] = set()
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag in ("replace", "delete"):
            lines.update(range(i1 + 1, i2 + 1))
        elif tag == "insert":
            # an inserted line belongs to its neighbours: the one above, else the one below
            lines.add(i1 if i1 >= 1 else 1)
    return tuple(sorted(lines))


def mutants_of(
    target: TargetFile, mutators: Sequence[Mutator], *, module_label: str
) -> tuple[list[Mutant], list[str]]:
    """Every mutant of ``target`` (identical sources once), and the mutator errors met."""
    module = parse(target.source)
    by_id = {m.bug_id: m for m in mutators}
    sites = find_sites(module, mutators)
    ignores = ignore_comments(target.source)
    in_functions = function_body_lines(target.source)
    mutants: list[Mutant] = []
    problems: list[str] = []
    seen: set[str] = set()
    for bug_id in sorted(sites):
        for site in sites[bug_id]:
            try:
                source = apply_sites(module, by_id, [(bug_id, site.index)])
            except MutatorError as exc:
                problems.append(f"{target.display}:{site.start_line}: {exc}")
                continue
            if source in seen:
                continue
            seen.add(source)
            lines = changed_lines(target.source, source) or (site.start_line,)
            reason = None
            for line in lines:
                ids, why = ignores.get(line, (frozenset(), ""))
                if bug_id in ids or "*" in ids:
                    reason = why
                    break
            mutants.append(
                Mutant(
                    id=f"{module_label}:{bug_id}:{site.index}",
                    file=target,
                    bug_id=bug_id,
                    site=site.index,
                    source=source,
                    diff=unified_diff(
                        target.source, source, fromfile=target.display, tofile=f"{target.display} (mutant)"
                    ),
                    changed_lines=lines,
                    module_level=any(line not in in_functions for line in lines),
                    ignored_reason=reason,
                    description=site.description,
                )
            )
    mutants.sort(key=lambda m: (m.first_line, m.bug_id, m.site))
    return mutants, problems


class _RaiseFirst(cst.CSTTransformer):
    """Every function starts by raising: the forced-fail mutant."""

    _RAISE = cst.parse_statement("raise AssertionError('pytest-mlbugs forced failure')\n")

    def leave_FunctionDef(
        self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
    ) -> cst.FunctionDef:
        body = updated_node.body
        if isinstance(body, cst.IndentedBlock):
            return updated_node.with_changes(body=body.with_changes(body=[self._RAISE, *body.body]))
        return updated_node.with_changes(
            body=cst.IndentedBlock(
                body=[
                    self._RAISE,
                    cst.SimpleStatementLine(
                        body=[s for s in body.body if isinstance(s, cst.BaseSmallStatement)]
                    ),
                ]
            )
        )


def forced_failure_source(source: str) -> str:
    """``source`` with a ``raise`` at the top of every function (free variables unchanged)."""
    return parse(source).visit(_RaiseFirst()).code


def sample(mutants: Sequence[Mutant], count: int | None, seed: int) -> list[Mutant]:
    """``count`` of ``mutants`` chosen by the seed (each ranked by the SHA-256 of the seed and its
    ID, as every other choice of a seed is made), in their own order; all of them without
    ``count``."""
    if count is None or count >= len(mutants):
        return list(mutants)
    chosen = set(Pick(seed, "target-sample").shuffled([m.id for m in mutants])[:count])
    return [m for m in mutants if m.id in chosen]


def sample_active(mutants: Sequence[Mutant], count: int | None, seed: int) -> list[Mutant]:
    """:func:`sample` of the mutants to judge, with every site a pragma ignores kept (it is
    reported, never judged)."""
    active = [m for m in mutants if m.ignored_reason is None]
    chosen = {id(m) for m in sample(active, count, seed)}
    return [m for m in mutants if id(m) in chosen or m.ignored_reason is not None]


def python_files(folder: Path) -> Iterable[Path]:
    skip = {"__pycache__", ".git", ".venv", "venv", "node_modules", ".tox", ".nox"}
    for path in sorted(folder.rglob("*.py")):
        if not skip.intersection(path.relative_to(folder).parts):
            yield path


class TargetError(Exception):
    """A ``--mlbugs-target`` that names nothing usable; the message is one line."""


def _is_test_file(path: Path) -> bool:
    return path.name.startswith("test_") or path.name.endswith("_test.py") or path.name == "conftest.py"


def resolve_targets(targets: Sequence[str], *, root: Path, option: str) -> list[TargetFile]:
    """The files the targets name (a file, a package folder, a dotted module name), each read
    once; test files and conftests inside a folder are left out."""
    paths: list[Path] = []
    for raw in targets:
        path = Path(raw)
        if not path.exists():
            try:
                spec = importlib.util.find_spec(raw)
            except (ImportError, ValueError) as exc:
                raise TargetError(f"{option}={raw}: cannot import it: {exc}") from None
            if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
                raise TargetError(
                    f"{option}={raw}: no such module or file; give a path or an importable module name"
                )
            path = Path(spec.origin)
            if spec.submodule_search_locations:
                path = path.parent
        if path.is_dir():
            paths.extend(p for p in python_files(path) if not _is_test_file(p))
        else:
            paths.append(path)
    files: dict[str, TargetFile] = {}
    for path in paths:
        real = Path(os.path.realpath(path))
        try:
            source = read_user_source(real, option=option)
        except LoadError as exc:
            raise TargetError(str(exc)) from None
        try:
            display = real.relative_to(root).as_posix()
        except ValueError:
            display = str(real)
        files.setdefault(str(real), TargetFile(real, display, source))
    if not files:
        raise TargetError(f"{option}: no Python files in {', '.join(targets)}")
    return list(files.values())
