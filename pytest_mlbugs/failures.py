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
import functools
import linecache
import re
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pytest_mlbugs.suite import Property, Suite
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


def _frames(exc: BaseException) -> list[tuple[types.FrameType, int]]:
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return frames


def _resolved(filename: str) -> Path:
    return Path(filename).resolve()


def _in_suite(frame: types.FrameType, prop: Property) -> bool:
    path = _resolved(frame.f_code.co_filename)
    return path == _resolved(prop.check.__code__.co_filename) or any(
        path.is_relative_to(folder) for folder in SUITE_FOLDERS
    )


def _in_file(frame: types.FrameType, user_file: Path) -> bool:
    return _resolved(frame.f_code.co_filename) == user_file


@functools.lru_cache(maxsize=64)
def _parsed(filename: str, size: int) -> ast.Module | None:
    """The syntax tree of a file as the traceback saw it (``size`` keys the cache)."""
    try:
        return ast.parse("".join(linecache.getlines(filename)))
    except (SyntaxError, ValueError):
        return None


def _statement(frame: types.FrameType, lineno: int) -> ast.stmt | None:
    """The innermost statement of the frame's file that holds ``lineno``."""
    filename = frame.f_code.co_filename
    tree = _parsed(filename, len(linecache.getlines(filename)))
    if tree is None:
        return None
    holding = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.stmt) and node.lineno <= lineno <= (node.end_lineno or node.lineno)
    ]
    return min(holding, key=lambda node: (node.end_lineno or node.lineno) - node.lineno, default=None)


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


def _render(node: ast.AST, frame: types.FrameType) -> str:
    """Source of ``node`` with the frame's attribute names filled in, on one line."""
    if isinstance(node, ast.stmt) and hasattr(node, "body"):
        # a compound statement fails in its header, never in the body we are not pointing at
        text = linecache.getline(frame.f_code.co_filename, node.lineno).strip()
    else:
        text = ast.unparse(_NamedAttributes(dict(frame.f_locals)).visit(ast.parse(ast.unparse(node))))
    text = " ".join(text.split())
    return text if len(text) <= _LONGEST else text[: _LONGEST - 3] + "..."


def _suite_frame(exc: BaseException, prop: Property) -> tuple[types.FrameType, int] | None:
    found = [entry for entry in _frames(exc) if _in_suite(entry[0], prop)]
    return found[-1] if found else None


def failed_check(exc: BaseException, prop: Property) -> str:
    """The check that failed: the assertion's own message, else the suite's failing line and
    what it raised."""
    exc = first_error(exc)
    located = _suite_frame(exc, prop)
    if located is None:
        return first_line(exc)
    frame, lineno = located
    statement = _statement(frame, lineno)
    if statement is None:
        return first_line(exc)
    raised_by_the_assert = _frames(exc)[-1][0] is frame and isinstance(statement, ast.Assert)
    if raised_by_the_assert and isinstance(exc, AssertionError):
        return str(exc).strip() or _render(statement, frame)
    return f"{_render(statement, frame)} raised {first_line(exc)}"


def user_line(exc: BaseException, user_file: str | Path, *, shown: str) -> str | None:
    """``shown:line: source`` of the last frame in the user's file, when the traceback has one."""
    path = _resolved(str(user_file))
    found = [entry for entry in _frames(first_error(exc)) if _in_file(entry[0], path)]
    if not found:
        return None
    frame, lineno = found[-1]
    source = linecache.getline(frame.f_code.co_filename, lineno).strip()
    return f"{shown}:{lineno}: {source}"


def frames_to_read(exc: BaseException, prop: Property, user_file: str | Path, *, shown: str) -> list[str]:
    """``file:line: source`` of each frame in the suite or in the user's file, outermost first:
    the traceback a practice failure shows (pytest shows its own under ``--mlbugs-impl``)."""
    path = _resolved(str(user_file))
    lines = []
    for frame, lineno in _frames(first_error(exc)):
        if _in_file(frame, path):
            where = shown
        elif _in_suite(frame, prop):
            suite_file = _resolved(frame.f_code.co_filename)
            inside = suite_file.is_relative_to(PACKAGE.parent)
            where = str(suite_file.relative_to(PACKAGE.parent) if inside else suite_file)
        else:
            continue
        lines.append(f"{where}:{lineno}: {linecache.getline(frame.f_code.co_filename, lineno).strip()}")
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
    if not isinstance(exc, (AttributeError, TypeError)):
        return None
    path = _resolved(str(user_file))
    ours_or_theirs = [
        entry for entry in _frames(exc) if _in_suite(entry[0], prop) or _in_file(entry[0], path)
    ]
    if not ours_or_theirs or _in_file(ours_or_theirs[-1][0], path):
        return None
    frame, lineno = ours_or_theirs[-1]
    statement = _statement(frame, lineno)
    if statement is None:
        return None
    what = (
        _wrong_attribute(exc, statement, frame, shown) if isinstance(exc, AttributeError) else first_line(exc)
    )
    return (
        f"{shown} does not meet the {suite.component} contract: {what}, and the contract requires "
        f"{_render(statement, frame)} to work (see {contract_reference(suite)})"
    )


def _wrong_attribute(exc: AttributeError, statement: ast.stmt, frame: types.FrameType, shown: str) -> str:
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
        reads = {_render(node.value, frame) for node in _attribute_reads(statement, name)}
        if len(reads) == 1:
            return f"{reads.pop()} is None (it has no attribute {name})"
        return f"something the suite reads .{name} of is None"
    if kind == "module":
        return f"{shown} has no {name}"
    return f"{kind} has no attribute {name}"


def _attribute_reads(statement: ast.stmt, name: str) -> Iterator[ast.Attribute]:
    return (node for node in ast.walk(statement) if isinstance(node, ast.Attribute) and node.attr == name)
