"""Turn source text into a module without touching the disk.

Variants are compiled and executed in memory under a private module name; their source is
registered with :mod:`linecache` so that tracebacks show the buggy lines. User files
(``--mlbugs-impl``) are read, checked and loaded the same way, with their own folder on
``sys.path`` while they import, so that a user's helper modules resolve.
"""

from __future__ import annotations

import contextlib
import linecache
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path


class LoadError(Exception):
    """A user file that cannot become an implementation; the message is one line."""


def load_source(source: str, *, name: str, filename: str) -> types.ModuleType:
    """Compile and execute ``source`` as a fresh module called ``name``.

    The module is placed in ``sys.modules`` (``dataclasses`` and ``pickle`` look it up there)
    and stays there for the life of the process; callers give each distinct source a distinct
    name.
    """
    code = compile(source, filename, "exec", dont_inherit=True)
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


@contextlib.contextmanager
def _importable_from(folder: Path) -> Iterator[None]:
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(entry)


def read_user_source(path: Path, *, option: str) -> str:
    """Read a user's Python file, turning every way it can be unusable into a one-line error."""
    if not path.exists():
        raise LoadError(f"{option}: {path} does not exist; give the path of a Python file")
    if path.is_dir():
        raise LoadError(f"{option}: {path} is a directory; give the path of a Python file")
    if not os.access(path, os.R_OK):
        raise LoadError(f"{option}: {path} is not readable; check its permissions")
    data = path.read_bytes()
    if b"\x00" in data:
        raise LoadError(f"{option}: {path} is a binary file, not Python source")
    try:
        source = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(f"{option}: {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    try:
        compile(source, str(path), "exec", dont_inherit=True)
    except SyntaxError as exc:
        raise LoadError(
            f"{option}: {path}:{exc.lineno}: syntax error: {exc.msg}; fix the file and re-run"
        ) from None
    return source


def load_user_file(path: Path, *, name: str, option: str) -> types.ModuleType:
    source = read_user_source(path, option=option)
    with _importable_from(path.resolve().parent):
        try:
            return load_source(source, name=name, filename=str(path))
        except Exception as exc:
            raise LoadError(f"{option}: importing {path} raised {type(exc).__name__}: {exc}") from None
