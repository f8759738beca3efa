"""Files a user would pass to ``--mlbugs-impl``: for each component, a correct one (its
reference) and a buggy one (the first bug the kill matrix writes into it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from pytest_mlbugs.generator import Variant, all_single_bug_variants
from pytest_mlbugs.registry import Registry


@dataclasses.dataclass
class ImplFiles:
    #: the variant written into each component's buggy file
    buggy: dict[str, Variant]
    correct_args: list[str]
    buggy_args: list[str]
    #: the properties of every component together: the items a correct run passes
    properties: int


def write_impl_files(pytester: pytest.Pytester, registry: Registry, components: Sequence[str]) -> ImplFiles:
    """``my_<component>.py`` and ``buggy_<component>.py`` in the pytester folder, and the
    ``--mlbugs-impl`` options that name each set."""
    buggy: dict[str, Variant] = {}
    for variant in all_single_bug_variants(registry, components):
        buggy.setdefault(variant.component, variant)
    files = ImplFiles(buggy, [], [], 0)
    for name in components:
        pytester.path.joinpath(f"my_{name}.py").write_text(registry.components[name].reference_source)
        pytester.path.joinpath(f"buggy_{name}.py").write_text(buggy[name].source)
        files.correct_args.append(f"--mlbugs-impl={name}=my_{name}.py")
        files.buggy_args.append(f"--mlbugs-impl={name}=buggy_{name}.py")
        files.properties += len(registry.components[name].suite.properties)
    return files
