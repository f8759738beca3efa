"""The stable public API of pytest-mlbugs.

Write mutators, components and properties against this module only; everything else in the
package is internal and may change between releases.

A mutator::

    import libcst as cst
    import libcst.matchers as m
    from pytest_mlbugs.api import Category, Example, Layer, Mutator

    class softmax_wrong_dim(Mutator):
        \"\"\"Softmax over the query axis instead of the key axis ...\"\"\"

        bug_id = "softmax_wrong_dim"
        components = ("attention",)
        ...
        node_types = (cst.Call,)

        def mutations(self, node):
            ...
"""

from __future__ import annotations

from pytest_mlbugs.mutation import (
    Category,
    Example,
    Layer,
    Mutator,
    MutatorError,
    Replacement,
    Site,
    find_sites,
    mutate_source,
)
from pytest_mlbugs.registry import Component, Registry, RegistryError
from pytest_mlbugs.suite import Property, Suite

__all__ = [
    "Category",
    "Component",
    "Example",
    "Layer",
    "Mutator",
    "MutatorError",
    "Property",
    "Registry",
    "RegistryError",
    "Replacement",
    "Site",
    "Suite",
    "find_sites",
    "mutate_source",
]
