"""Mutators and components that installed packages register through entry points.

A distribution declares, in its ``pyproject.toml``::

    [project.entry-points."pytest_mlbugs.mutators"]
    my_bug_id = "my_package.mutators:MyMutator"          # a Mutator subclass

    [project.entry-points."pytest_mlbugs.components"]
    my_component = "my_package.component:component"      # a Component, or a callable returning one

Components load first, so that a mutator may claim a component of its own distribution.
Everything loaded is marked with the distribution's name and version as its origin. An entry
point that cannot be imported, or names the wrong kind of object, is a :class:`RegistryError`
naming the entry point and its distribution (pytest shows it as a one-line usage error).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
from collections.abc import Callable
from typing import Any

from pytest_mlbugs.registry import BUILTIN_ORIGIN, Component, Registry, RegistryError, builtin_registry

MUTATORS_GROUP = "pytest_mlbugs.mutators"
COMPONENTS_GROUP = "pytest_mlbugs.components"


def _entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    found = importlib.metadata.entry_points(group=group)
    return sorted(found, key=lambda ep: (_origin(ep), ep.name))


def _origin(ep: importlib.metadata.EntryPoint) -> str:
    dist = ep.dist
    if dist is None:
        return f"entry point {ep.value}"
    return f"{dist.metadata['Name'] or dist.name} {dist.version}"


def _load(ep: importlib.metadata.EntryPoint, group: str) -> object:
    try:
        return ep.load()
    except Exception as exc:
        raise RegistryError(
            f"entry point {ep.name} = {ep.value} in group {group} ({_origin(ep)}) failed to load: "
            f"{type(exc).__name__}: {exc}; fix or uninstall that package"
        ) from None


def _component(ep: importlib.metadata.EntryPoint) -> Component:
    loaded = _load(ep, COMPONENTS_GROUP)
    if not isinstance(loaded, Component) and callable(loaded):
        factory: Callable[[], object] = loaded
        try:
            loaded = factory()
        except Exception as exc:
            raise RegistryError(
                f"entry point {ep.name} = {ep.value} in group {COMPONENTS_GROUP} ({_origin(ep)}) raised "
                f"{type(exc).__name__}: {exc} when called"
            ) from None
    if not isinstance(loaded, Component):
        raise RegistryError(
            f"entry point {ep.name} = {ep.value} in group {COMPONENTS_GROUP} ({_origin(ep)}) gives "
            f"{type(loaded).__name__}, not a pytest_mlbugs.api.Component (or a callable returning one)"
        )
    if loaded.origin == BUILTIN_ORIGIN:
        loaded = dataclasses.replace(loaded, origin=_origin(ep))
    return loaded


def load_entry_points(registry: Registry) -> None:
    """Add every installed distribution's components, then its mutators, to ``registry``."""
    for ep in _entry_points(COMPONENTS_GROUP):
        registry.add_component(_component(ep))
    for ep in _entry_points(MUTATORS_GROUP):
        loaded = _load(ep, MUTATORS_GROUP)
        if not isinstance(loaded, type):
            raise RegistryError(
                f"entry point {ep.name} = {ep.value} in group {MUTATORS_GROUP} ({_origin(ep)}) gives "
                f"{type(loaded).__name__}, not a subclass of pytest_mlbugs.api.Mutator"
            )
        registry.add_mutator(loaded, origin=_origin(ep))


def run_registry(config: Any | None) -> Registry:
    """The catalogue of one pytest run: built in, then installed (entry points), then what the
    run's conftest files register through ``pytest_mlbugs_register`` (``config``'s hook; none
    without a config). Every mode builds its registry here; a bad registration raises
    :class:`RegistryError`."""
    registry = builtin_registry()
    load_entry_points(registry)
    if config is not None:
        config.hook.pytest_mlbugs_register(registry=registry)
    return registry
