"""What a person reads when a property fails on their own file (``--mlbugs-impl``, practice).

A bare traceback leaves out three things that a person needs:

- which check of the property failed: the assertion's own message when the suite gives one,
  otherwise the suite's failing line (pytest does not rewrite the asserts of an installed
  plugin, so nothing else would show the condition);
- where their file was when it failed: the last frame of the traceback in that file;
- whether the suite could read what the contract requires at all: an ``AttributeError`` or a
  ``TypeError`` raised at a line of the suite (a missing submodule, a projection without a bias,
  a method of the wrong kind) means that the file does not meet the contract, not that the
  harness broke, and is said so first.

And where the contract is written: the component's section of ``docs/contracts.md``, which
an installed package does not carry, hence the pointer to the project's home page.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import itertools
import linecache
import re
import types
from pathlib import Path
from typing import Any

from pytest_mlbugs.suite import ContractMismatch, Property, Suite
from pytest_mlbugs.verdict import first_line

PACKAGE = Path(__file__).resolve().parent
#: where the code of the built-in suites lives: a frame there is the suite's, not the user's
SUITE_FOLDERS = (PACKAGE / "properties", PACKAGE / "strategies")
CONTRACTS_DOC = "docs/contracts.md"
#: said after the link: an installed package has no docs folder
WHERE_DOCS_LIVE = "on pytest-mlbugs' home page"
_CONTRACT_NUMBER = re.compile(r"contract (\d+)\b")
_NO_ATTRIBUTE = re.compile(
    r"(?:'(?P<type>\w+)' object|type object '(?P<cls>\w+)'|module '[\w.]+') has no attribute '(?P<name>\w+)'"
)
#: a rendered statement longer than this is cut: the traceback below shows it whole
_LONGEST = 160


def contract_reference(suite: Suite) -> str:
    """Where the suite's contract is documented: ``docs/contracts.md#1-attention`` for a
    built-in contract (its contract string reads ``contract N: ...``), else the extension's
    own contract string."""
    found = _CONTRACT_NUMBER.match(suite.contract)
    if found is None:
        return suite.contract
    return f"{CONTRACTS_DOC}#{found.group(1)}-{suite.component.lower()} {WHERE_DOCS_LIVE}"


def first_error(exc: BaseException) -> BaseException:
    """The exception to explain: the first of a group (Hypothesis reports distinct failures
    of one property together)."""
    grouped = getattr(exc, "exceptions", None)
    while isinstance(grouped, tuple) and grouped:
        exc = grouped[0]
        grouped = getattr(exc, "exceptions", None)
    return exc


@dataclasses.dataclass(frozen=True)
class _Frame:
    """One frame of a traceback, where it stood when the exception passed through it."""

    frame: types.FrameType
    lineno: int
    #: the instruction that raised or called on: with its source position, the exact expression
    lasti: int

    @property
    def filename(self) -> str:
        return self.frame.f_code.co_filename

    @property
    def path(self) -> Path:
        return Path(self.filename).resolve()

    @property
    def source_line(self) -> str:
        return linecache.getline(self.filename, self.lineno).strip()

    def in_suite(self, prop: Property) -> bool:
        """Suite code: the built-in suites and strategies, or the file of an extension's check."""
        path = self.path
        return path == Path(prop.check.__code__.co_filename).resolve() or any(
            path.is_relative_to(folder) for folder in SUITE_FOLDERS
        )

    def statement(self) -> ast.stmt | None:
        """The innermost statement of the frame's file that holds the failing line."""
        tree = _parsed(self.filename, len(linecache.getlines(self.filename)))
        if tree is None:
            return None
        holding = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.stmt) and node.lineno <= self.lineno <= (node.end_lineno or node.lineno)
        ]
        return min(holding, key=lambda node: (node.end_lineno or node.lineno) - node.lineno, default=None)

    def expression(self, statement: ast.stmt) -> ast.AST:
        """The expression of ``statement`` that failed: the one at the failing instruction's
        source position (Python 3.11 on), else the statement's value."""
        positions = getattr(self.frame.f_code, "co_positions", None)
        if positions is not None and self.lasti >= 0:
            position = next(itertools.islice(positions(), self.lasti // 2, None), None)
            for node in ast.walk(statement):
                if isinstance(node, ast.expr) and position == (
                    node.lineno, node.end_lineno, node.col_offset, node.end_col_offset
                ):  # fmt: skip
                    return node
        return _value_of(statement)

    def render(self, node: ast.AST) -> str:
        """Source of ``node`` on one line, with the frame's attribute names filled in."""
        if isinstance(node, ast.stmt) and hasattr(node, "body"):
            # a compound statement fails in its header, not in the body we are not pointing at
            text = self.source_line
        else:
            text = ast.unparse(
                _NamedAttributes(dict(self.frame.f_locals)).visit(ast.parse(ast.unparse(node)))
            )
        text = " ".join(text.split())
        return text if len(text) <= _LONGEST else text[: _LONGEST - 3] + "..."


def _frames(exc: BaseException) -> list[_Frame]:
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(_Frame(tb.tb_frame, tb.tb_lineno, tb.tb_lasti))
        tb = tb.tb_next
    return frames


def _value_of(statement: ast.stmt) -> ast.AST:
    """``module(query)`` of ``actual = module(query)``: the part that runs, not the name it is bound to."""
    value = getattr(statement, "value", None)
    if isinstance(statement, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr, ast.Return)) and value:
        return value
    return statement


@functools.lru_cache(maxsize=64)
def _parsed(filename: str, size: int) -> ast.Module | None:
    """The syntax tree of a file as the traceback saw it (``size`` keys the cache)."""
    try:
        return ast.parse("".join(linecache.getlines(filename)))
    except (SyntaxError, ValueError):
        return None


class _NamedAttributes(ast.NodeTransformer):
    """``getattr(module, name)`` with ``name == "q_proj"`` in the frame reads ``module.q_proj``."""

    def __init__(self, names: dict[str, Any]) -> None:
        self.names = names

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) == 2:
            owner, name = node.args
            value = name.value if isinstance(name, ast.Constant) else None
            if isinstance(name, ast.Name):
                value = self.names.get(name.id)
            if isinstance(value, str) and value.isidentifier():
                return ast.Attribute(value=owner, attr=value, ctx=ast.Load())
        return node


def failed_check(exc: BaseException, prop: Property) -> str:
    """The check that failed: the assertion's own message, else the suite's failing line and
    what it raised."""
    exc = first_error(exc)
    frames = _frames(exc)
    ours = [entry for entry in frames if entry.in_suite(prop)]
    statement = ours[-1].statement() if ours else None
    if statement is None:
        return first_line(exc)
    where = ours[-1]
    if isinstance(exc, AssertionError) and isinstance(statement, ast.Assert) and frames[-1] is where:
        return str(exc).strip() or where.render(statement)
    return f"{where.render(_value_of(statement))} raised {first_line(exc)}"


def user_line(exc: BaseException, user_file: str | Path, *, shown: str) -> str | None:
    """``shown:line: source`` of the last frame in the user's file, when the traceback has one."""
    path = Path(user_file).resolve()
    theirs = [entry for entry in _frames(first_error(exc)) if entry.path == path]
    return f"{shown}:{theirs[-1].lineno}: {theirs[-1].source_line}" if theirs else None


def frames_to_read(exc: BaseException, prop: Property, user_file: str | Path, *, shown: str) -> list[str]:
    """``file:line: source`` of each frame in the suite or in the user's file, outermost first:
    the traceback a practice failure shows (pytest shows its own under ``--mlbugs-impl``)."""
    path = Path(user_file).resolve()
    lines = []
    for entry in _frames(first_error(exc)):
        if entry.path == path:
            where = shown
        elif entry.in_suite(prop):
            inside = entry.path.is_relative_to(PACKAGE.parent)
            where = str(entry.path.relative_to(PACKAGE.parent) if inside else entry.path)
        else:
            continue
        lines.append(f"{where}:{entry.lineno}: {entry.source_line}")
    return lines


def contract_mismatch(
    exc: BaseException, prop: Property, suite: Suite, *, user_file: str | Path, shown: str
) -> str | None:
    """One line saying that the file does not meet the contract, when the suite itself could
    not read what the contract requires of the user's object; ``None`` otherwise.

    That is an ``AttributeError``, or a ``TypeError`` (calling, indexing or passing something
    of the wrong kind), whose innermost frame of the suite or the user's file is the suite's:
    raised in the user's own code, it is the user's bug, shown as any other failure.
    """
    exc = first_error(exc)
    if isinstance(exc, ContractMismatch):  # the suite's own check of the contract's shape
        return (
            f"{shown} does not meet the {suite.component} contract: {exc} (see {contract_reference(suite)})"
        )
    if not isinstance(exc, (AttributeError, TypeError)):
        return None
    path = Path(user_file).resolve()
    ours_or_theirs = [entry for entry in _frames(exc) if entry.in_suite(prop) or entry.path == path]
    if not ours_or_theirs or ours_or_theirs[-1].path == path:
        return None
    where = ours_or_theirs[-1]
    statement = where.statement()
    if statement is None:
        return None
    failing = where.expression(statement)
    what = (
        _wrong_attribute(exc, failing, where, shown) if isinstance(exc, AttributeError) else first_line(exc)
    )
    return (
        f"{shown} does not meet the {suite.component} contract: {what}; the contract requires "
        f"{where.render(failing)} (see {contract_reference(suite)})"
    )


def _wrong_attribute(exc: AttributeError, failing: ast.AST, where: _Frame, shown: str) -> str:
    """``MultiHeadAttention has no attribute q_proj``, or ``module.q_proj.bias is None``."""
    parsed = _NO_ATTRIBUTE.search(str(exc))
    if parsed is not None:
        name, kind = parsed["name"], parsed["type"] or parsed["cls"] or "module"
    elif exc.name is not None:
        name = exc.name
        kind = "module" if isinstance(exc.obj, types.ModuleType) else type(exc.obj).__name__
    else:
        return first_line(exc)
    if kind == "NoneType":
        reads = {
            where.render(node.value)
            for node in ast.walk(failing)
            if isinstance(node, ast.Attribute) and node.attr == name
        }
        return f"{reads.pop()} is None" if len(reads) == 1 else f"what the suite reads .{name} of is None"
    if kind == "module":
        return f"{shown} has no {name}"
    return f"{kind} has no attribute {name}"
