"""The catalogue: every registered mutator by bug ID, every component by name.

Built-in entries are discovered, not listed: every module of ``pytest_mlbugs.mutators``
defines one mutator, every module of ``pytest_mlbugs.properties`` defines one ``SUITE``,
and ``pytest_mlbugs.reference_impls`` holds a reference of the same name. A new mutator or
component is therefore one new file, and nothing else to edit.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.resources
import inspect
import pkgutil
from collections.abc import Iterable, Sequence
from pathlib import Path

from pytest_mlbugs.mutation import Category, Layer, Mutator
from pytest_mlbugs.suite import Suite

_REQUIRED_TEXT = ("description", "symptom", "hint", "fix")


class RegistryError(Exception):
    """A registration that cannot stand: a duplicate ID, a malformed mutator or component."""


#: the origin of everything that ships with pytest-mlbugs
BUILTIN_ORIGIN = "pytest-mlbugs"


@dataclasses.dataclass(frozen=True)
class Component:
    """A contract: its name, the property suite that checks it, and a reference that passes it.

    Mutators name the components whose references they rewrite; a session mutates the
    reference and judges each variant with the suite.
    """

    name: str
    suite: Suite
    reference_source: str
    #: how the reference is shown in diffs and tracebacks
    reference_path: str
    origin: str = BUILTIN_ORIGIN

    @classmethod
    def from_resource(
        cls, suite: Suite, package: str, resource: str, *, origin: str = BUILTIN_ORIGIN
    ) -> Component:
        """The component of ``suite`` whose reference is the file ``resource`` of ``package``
        (read with :mod:`importlib.resources`, so it works from a wheel too)."""
        source = (importlib.resources.files(package) / resource).read_text(encoding="utf-8")
        return cls(suite.component, suite, source, f"{package.replace('.', '/')}/{resource}", origin)


class Registry:
    """The catalogue of one run: mutators by bug ID, components by name.

    ``pytest_mlbugs_register(registry)`` in a conftest receives the run's registry after the
    built-in and installed (entry-point) entries are in it.
    """

    def __init__(self) -> None:
        self.mutators: dict[str, Mutator] = {}
        self.components: dict[str, Component] = {}

    def add_mutator(self, mutator_class: type[Mutator], *, origin: str | None = None) -> None:
        """Register ``mutator_class`` under its ``bug_id``.

        ``origin`` (a conftest path, a distribution) is shown by ``--mlbugs-list`` and in every
        message about the mutator; without it, an ``origin`` the class sets itself is kept, and
        otherwise the module that defines the class is named.
        """
        if not (isinstance(mutator_class, type) and issubclass(mutator_class, Mutator)):
            raise RegistryError(
                f"{mutator_class!r} ({origin or 'unknown origin'}) is not a subclass of "
                "pytest_mlbugs.api.Mutator"
            )
        mutator_class.origin = origin if origin is not None else _default_origin(mutator_class)
        problems = _mutator_problems(mutator_class)
        if problems:
            name = getattr(mutator_class, "bug_id", mutator_class.__qualname__)
            raise RegistryError(f"mutator {name} ({mutator_class.origin}): {'; '.join(problems)}")
        bug_id = mutator_class.bug_id
        if bug_id in self.mutators:
            other = self.mutators[bug_id]
            raise RegistryError(
                f"bug ID {bug_id!r} is claimed twice: by {type(other).__qualname__} from "
                f"{other.origin} and by {mutator_class.__qualname__} from {mutator_class.origin}; "
                "rename one of them (bug IDs are stable and never reused)"
            )
        self.mutators[bug_id] = mutator_class()

    def add_component(self, component: Component) -> None:
        """Register a contract: its suite, its reference, and where it comes from."""
        if not isinstance(component, Component):
            raise RegistryError(f"{component!r} is not a pytest_mlbugs.api.Component")
        if component.name in self.components:
            other = self.components[component.name]
            raise RegistryError(
                f"component {component.name!r} is registered twice: by {other.origin} and by "
                f"{component.origin}"
            )
        if component.suite.component != component.name:
            raise RegistryError(
                f"component {component.name!r} carries the suite of {component.suite.component!r}"
            )
        self.components[component.name] = component

    def mutators_for(self, component: str) -> list[Mutator]:
        """The mutators that claim ``component``, in registration order."""
        return [m for m in self.mutators.values() if component in m.components]

    def sorted_mutators(self) -> list[Mutator]:
        """Every mutator, by bug ID."""
        return [self.mutators[k] for k in sorted(self.mutators)]

    def copy(self) -> Registry:
        """A registry with the same entries, to extend without changing this one."""
        clone = Registry()
        clone.mutators = dict(self.mutators)
        clone.components = dict(self.components)
        return clone


class Selection:
    """What ``--mlbugs-components`` and ``--mlbugs-mutators`` select together: the mutators that
    apply (claim a selected component), the parts of the request that select nothing, and the
    installed extensions that take part."""

    def __init__(self, registry: Registry, components: Sequence[str], mutators: Sequence[str]) -> None:
        wanted = set(components)
        self.components = list(components)
        self.mutators = [registry.mutators[bug_id] for bug_id in mutators]
        self.applying = [m for m in self.mutators if wanted.intersection(m.components)]
        claimed = {name for m in self.applying for name in m.components}
        #: selected components no selected mutator claims: they get no variant
        self.bare_components = [name for name in components if name not in claimed]
        #: selected mutators that claim none of the selected components
        self.idle_mutators = [m.bug_id for m in self.mutators if not wanted.intersection(m.components)]
        origins = [m.origin for m in self.applying]
        origins += [registry.components[name].origin for name in components if name in registry.components]
        self.extensions = sorted({origin for origin in origins if origin != BUILTIN_ORIGIN})

    def nothing_selected(self, *, mutators_given: bool) -> list[str]:
        """One line for each part of the request that selects nothing; none when all of it does
        (mutators that claim none of the components count only when --mlbugs-mutators named them)."""
        lines = []
        if self.bare_components:
            lines.append(
                f"no selected mutator applies to {', '.join(self.bare_components)}: no variant of "
                "it (its reference is still checked); see --mlbugs-list for the mutators of each component"
            )
        if mutators_given and self.idle_mutators and len(self.idle_mutators) < len(self.mutators):
            lines.append(
                f"{', '.join(self.idle_mutators)} claim(s) none of the selected components: "
                "no variant of them"
            )
        return lines


def _default_origin(cls: type[Mutator]) -> str:
    own = vars(cls).get("origin")
    if isinstance(own, str) and own:
        return own
    module = cls.__module__
    if module == "pytest_mlbugs" or module.startswith("pytest_mlbugs."):
        return BUILTIN_ORIGIN
    path = getattr(inspect.getmodule(cls), "__file__", None)
    if not path:
        return module
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:  # not under the working directory
        return str(path)


def _mutator_problems(cls: type[Mutator]) -> list[str]:
    problems = []
    bug_id = getattr(cls, "bug_id", None)
    if not isinstance(bug_id, str) or not bug_id.isidentifier():
        problems.append("bug_id must be an identifier string")
    components = getattr(cls, "components", None)
    if not isinstance(components, tuple) or not components:
        problems.append("components must be a non-empty tuple of component names")
    if not isinstance(getattr(cls, "category", None), Category):
        problems.append("category must be a pytest_mlbugs.api.Category")
    if not isinstance(getattr(cls, "layer", None), Layer):
        problems.append("layer must be a pytest_mlbugs.api.Layer")
    for attribute in _REQUIRED_TEXT:
        value = getattr(cls, attribute, None)
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{attribute} must be a non-empty string")
    if not cls.explanation():
        problems.append("the class docstring (the catalogue entry) is missing")
    if cls.mutations is Mutator.mutations:
        problems.append("mutations() is not implemented")
    return problems


def _submodules(package: str) -> Iterable[str]:
    module = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda i: i.name):
        if not info.name.startswith("_"):
            yield f"{package}.{info.name}"


def builtin_mutator_classes() -> list[type[Mutator]]:
    classes = []
    for module_name in _submodules("pytest_mlbugs.mutators"):
        module = importlib.import_module(module_name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, Mutator) and value is not Mutator and value.__module__ == module_name:
                classes.append(value)
    return classes


def builtin_components() -> list[Component]:
    components = []
    references = importlib.resources.files("pytest_mlbugs.reference_impls")
    for module_name in _submodules("pytest_mlbugs.properties"):
        suite = getattr(importlib.import_module(module_name), "SUITE", None)
        if not isinstance(suite, Suite):
            continue
        name = suite.component
        source = (references / f"{name}.py").read_text(encoding="utf-8")
        components.append(Component(name, suite, source, f"reference_impls/{name}.py"))
    return components


@functools.lru_cache(maxsize=1)
def _builtin_registry() -> Registry:
    registry = Registry()
    for component in builtin_components():
        registry.add_component(component)
    for cls in builtin_mutator_classes():
        registry.add_mutator(cls)
    return registry


def builtin_registry() -> Registry:
    """A fresh copy of the built-in catalogue, safe to extend."""
    return _builtin_registry().copy()
