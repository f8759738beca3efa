"""Swap a mutated module into a running process, in place, so that old references see it.

Test modules did ``from mypkg.model import Model`` at import and hold that class; fixtures may
hold functions; ``@torch.no_grad()`` wrapped a function in a closure. Replacing the entry in
``sys.modules`` reaches none of them. Instead the mutated source is executed once into a
scratch namespace and its new code is moved into the *existing* objects:

- a function (also a method, a ``staticmethod``/``classmethod``/``property`` function, and the
  function a decorator wrapped, reached through ``__wrapped__`` and closure cells) keeps its
  identity, globals and closure (``__class__`` for ``super()``) and gets the new ``__code__``
  and defaults;
- a class keeps its identity and gets the new class body's attributes, recursively;
- anything else (module-level data, or a function whose shape changed, such as a decorator the
  mutation removed) is rebound in the module and under the same name in every module that
  imported it, rebuilt on the module's own globals.

This runs in the forked child that judges one mutant, so nothing needs undoing.
"""

from __future__ import annotations

import linecache
import sys
import types
from typing import Any

import torch

_KEPT_DUNDERS = ("__name__", "__file__", "__package__", "__spec__", "__loader__", "__path__", "__builtins__")
_CLASS_SKIP = frozenset({"__dict__", "__weakref__", "__module__", "__qualname__"})


class SwapError(Exception):
    """The mutated module could not be executed or swapped in; the mutant's verdict is error."""


def _is_simple(value: Any) -> bool:
    return isinstance(value, int | float | complex | str | bytes | bool | type(None) | tuple | frozenset)


def _same_value(old: Any, new: Any) -> bool:
    """True only when ``old`` and ``new`` are surely interchangeable."""
    if old is new:
        return True
    if type(old) is not type(new):
        return False
    if isinstance(old, types.ModuleType):
        return old is new
    try:
        if _is_simple(old) or type(old).__module__ == "torch":
            if isinstance(old, torch.Tensor):
                return bool(old.shape == new.shape and old.dtype == new.dtype and torch.equal(old, new))
            return bool(old == new)
    except Exception:
        return False
    return False


class _Swapper:
    def __init__(self, module: types.ModuleType, filename: str) -> None:
        self.module = module
        self.filename = filename
        self.seen: set[int] = set()

    def _ours(self, function: types.FunctionType) -> bool:
        return function.__code__.co_filename == self.filename

    def swap_function(self, old: types.FunctionType, new: types.FunctionType) -> bool:
        """Move ``new``'s code into ``old``; False when their shapes differ (nothing changed)."""
        if not self._compatible(old, new):
            return False
        self._swap_compatible(old, new)
        return True

    def _compatible(self, old: Any, new: Any) -> bool:
        if not (isinstance(old, types.FunctionType) and isinstance(new, types.FunctionType)):
            return False
        if old.__code__.co_freevars != new.__code__.co_freevars:
            return False
        if ("__wrapped__" in vars(old)) != ("__wrapped__" in vars(new)):
            return False
        if "__wrapped__" in vars(old) and not self._compatible(
            vars(old)["__wrapped__"], vars(new)["__wrapped__"]
        ):
            return False
        for old_cell, new_cell in zip(old.__closure__ or (), new.__closure__ or (), strict=True):
            try:
                old_inner, new_inner = old_cell.cell_contents, new_cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if isinstance(new_inner, types.FunctionType) and self._ours(new_inner):
                if not self._compatible(old_inner, new_inner):
                    return False
        return True

    def _swap_compatible(self, old: types.FunctionType, new: types.FunctionType) -> None:
        if id(old) in self.seen:
            return
        self.seen.add(id(old))
        old.__code__ = new.__code__
        old.__defaults__ = new.__defaults__
        old.__kwdefaults__ = new.__kwdefaults__
        if "__wrapped__" in vars(old):
            self._swap_compatible(vars(old)["__wrapped__"], vars(new)["__wrapped__"])
        for old_cell, new_cell in zip(old.__closure__ or (), new.__closure__ or (), strict=True):
            try:
                old_inner, new_inner = old_cell.cell_contents, new_cell.cell_contents
            except ValueError:
                continue
            if isinstance(new_inner, types.FunctionType) and self._ours(new_inner):
                self._swap_compatible(old_inner, new_inner)

    def rehome(self, new: Any, owner: type | None = None) -> Any:
        """``new`` rebuilt on the module's globals (and ``owner`` as its ``__class__`` cell)."""
        if isinstance(new, staticmethod | classmethod):
            return type(new)(self.rehome(new.__func__, owner))
        if isinstance(new, property):
            fget, fset, fdel = (
                self.rehome(f, owner) if f is not None else None for f in (new.fget, new.fset, new.fdel)
            )
            return property(fget, fset, fdel, new.__doc__)
        if not isinstance(new, types.FunctionType):
            return new
        if not self._ours(new):  # a decorator's wrapper: rehome what it wraps
            for cell in new.__closure__ or ():
                try:
                    inner = cell.cell_contents
                except ValueError:
                    continue
                if isinstance(inner, types.FunctionType) and self._ours(inner):
                    cell.cell_contents = self.rehome(inner, owner)
                    if getattr(new, "__wrapped__", None) is inner:
                        new.__wrapped__ = cell.cell_contents  # type: ignore[attr-defined]
            return new
        closure = None
        if new.__closure__ is not None:
            closure = tuple(
                types.CellType(owner)
                if name == "__class__" and owner is not None
                else (types.CellType(self.rehome(cell.cell_contents, owner)) if _filled(cell) else cell)
                for name, cell in zip(new.__code__.co_freevars, new.__closure__, strict=True)
            )
        rebuilt = types.FunctionType(
            new.__code__, self.module.__dict__, new.__name__, new.__defaults__, closure
        )
        rebuilt.__kwdefaults__ = new.__kwdefaults__
        rebuilt.__qualname__ = new.__qualname__
        rebuilt.__dict__.update(new.__dict__)
        return rebuilt

    def patch_member(self, old: Any, new: Any) -> bool:
        """Patch ``old`` in place from ``new``; False when it must be rebound instead."""
        if old is new:
            return True
        if isinstance(old, types.FunctionType):
            return isinstance(new, types.FunctionType) and self.swap_function(old, new)
        if isinstance(old, staticmethod | classmethod):
            return type(old) is type(new) and self.patch_member(old.__func__, new.__func__)
        if isinstance(old, property):
            if not isinstance(new, property):
                return False
            pairs = [(old.fget, new.fget), (old.fset, new.fset), (old.fdel, new.fdel)]
            if any((o is None) != (n is None) for o, n in pairs):
                return False
            if not all(self._compatible(o, n) for o, n in pairs if o is not None):
                return False
            return all(self.patch_member(o, n) for o, n in pairs if o is not None)
        if isinstance(old, type):
            return isinstance(new, type) and self.patch_class(old, new)
        return _same_value(old, new)

    def patch_class(self, old: type, new: type) -> bool:
        if id(old) in self.seen:
            return True
        if old.__module__ != self.module.__name__ or old.__qualname__ != new.__qualname__:
            return False
        self.seen.add(id(old))
        for name, value in new.__dict__.items():
            if name in _CLASS_SKIP:
                continue
            if name in old.__dict__ and self.patch_member(old.__dict__[name], value):
                continue
            setattr(old, name, self.rehome(value, old))
        for name in [n for n in old.__dict__ if n not in new.__dict__ and n not in _CLASS_SKIP]:
            delattr(old, name)
        return True


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018
    except ValueError:
        return False
    return True


def swap_module(module: types.ModuleType, source: str, *, filename: str) -> None:
    """Make ``module`` (and every reference into it) behave as ``source``; raises SwapError."""
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        raise SwapError(f"the mutant does not compile: {exc}") from None
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    scratch: dict[str, Any] = {k: module.__dict__[k] for k in _KEPT_DUNDERS if k in module.__dict__}
    try:
        exec(code, scratch)
    except BaseException as exc:
        raise SwapError(f"the mutant raised at import: {type(exc).__name__}: {exc}") from None
    swapper = _Swapper(module, filename)
    importers = [m for m in list(sys.modules.values()) if isinstance(m, types.ModuleType) and m is not module]
    for name, new in scratch.items():
        if name.startswith("__") and name.endswith("__"):
            continue
        missing = object()
        old = module.__dict__.get(name, missing)
        if old is not missing and swapper.patch_member(old, new):
            continue
        value = swapper.rehome(new)
        module.__dict__[name] = value
        if old is missing:
            continue
        for importer in importers:
            namespace = getattr(importer, "__dict__", None)
            if namespace is not None and namespace.get(name) is old:
                namespace[name] = value
