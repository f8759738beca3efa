"""The stable public API of pytest-mlbugs.

Write mutators, components and properties against this module only; everything else in the
package is internal and may change between releases. The guide is ``docs/writing-a-mutator.md``.

A mutator names one bug (``bug_id``, stable and never reused), the components whose references it
rewrites, where the bug lives (:class:`Category`, :class:`Layer`), what a person sees, and its
examples; :meth:`Mutator.mutations` returns the buggy replacements of one libcst node::

    import libcst as cst
    from pytest_mlbugs.api import Category, Example, Layer, Mutator

    class QkScaleMissing(Mutator):
        \"\"\"Scores are not divided by sqrt(d_k): softmax saturates as d_k grows.\"\"\"

        bug_id = "qk_scale_missing"
        components = ("attention",)
        category = Category.NUMERICS
        layer = Layer.NUMERICS
        description = "attention scores not scaled by 1/sqrt(d_k)"
        symptom = "attention collapses onto one key; training is unstable at large d_model"
        hint = "what is the variance of q.k for unit-variance q and k?"
        fix = "divide the scores by math.sqrt(d_k)"
        node_types = (cst.BinaryOperation,)
        EXAMPLES = (Example("s = q @ k / math.sqrt(d)\\n", "s = q @ k\\n"),)
        UNCHANGED = ("s = q @ k\\n",)

        def mutations(self, node):
            if isinstance(node.operator, cst.Divide) and "sqrt" in cst.Module([]).code_for_node(node.right):
                return (node.left,)
            return ()

Register it in a ``conftest.py``::

    def pytest_mlbugs_register(registry):
        registry.add_mutator(QkScaleMissing)

or, from an installed package, with an entry point in the group :data:`MUTATORS_ENTRY_POINT`
(``pytest_mlbugs.mutators``); a new contract (a :class:`Component`: its :class:`Suite` of
properties and a reference that passes them) goes in :data:`COMPONENTS_ENTRY_POINT`
(``pytest_mlbugs.components``) or ``registry.add_component``. Then
``pytest --mlbugs-check-mutators`` checks it (:func:`mutator_problems` runs the part of that
check that needs no property suite, for a unit test of your own).

A mutator runs under :data:`MUTATOR_TIME_LIMIT` seconds per pass over one module; one that
raises, loops or returns something that is not a libcst node is reported against its
``bug_id`` and origin, and the session runs without it.
"""

from __future__ import annotations

from pytest_mlbugs.extension_points import COMPONENTS_GROUP, MUTATORS_GROUP
from pytest_mlbugs.mutation import (
    MUTATOR_TIME_LIMIT,
    Category,
    Example,
    Layer,
    Mutator,
    MutatorError,
    Replacement,
    Rewrite,
    Site,
    SiteContext,
    find_sites,
    mutate_source,
    parse,
)
from pytest_mlbugs.registry import Component, Registry, RegistryError, builtin_registry
from pytest_mlbugs.suite import ContractMismatch, Property, Suite, require

#: the entry-point group of installed mutators: each entry point is a :class:`Mutator` subclass
MUTATORS_ENTRY_POINT: str = MUTATORS_GROUP
#: the entry-point group of installed components: a :class:`Component` or a callable returning one
COMPONENTS_ENTRY_POINT: str = COMPONENTS_GROUP


def mutator_problems(mutator: Mutator | type[Mutator], registry: Registry | None = None) -> list[str]:
    """What ``pytest --mlbugs-check-mutators`` would find wrong with ``mutator`` before judging
    any variant: examples that do not hold, an ``UNCHANGED`` source that offers a site, a claimed
    component that is not registered or whose reference offers no site, a variant that does not
    compile. An empty list when there is nothing to fix.

    ``registry`` defaults to the built-in catalogue; pass your own to check against components
    you registered.

    Args:
        mutator: a mutator instance or class.
        registry: where the claimed components are looked up.

    Returns:
        One readable sentence per problem.
    """
    # imported only when asked: the mutator checks import torch, Hypothesis and the suites
    from pytest_mlbugs.checking.checks import static_problems

    instance = mutator() if isinstance(mutator, type) else mutator
    return static_problems(instance, registry if registry is not None else builtin_registry())


__all__ = [
    "COMPONENTS_ENTRY_POINT",
    "MUTATORS_ENTRY_POINT",
    "MUTATOR_TIME_LIMIT",
    "Category",
    "Component",
    "ContractMismatch",
    "Example",
    "Layer",
    "Mutator",
    "MutatorError",
    "Property",
    "Registry",
    "RegistryError",
    "Replacement",
    "Rewrite",
    "Site",
    "SiteContext",
    "Suite",
    "builtin_registry",
    "find_sites",
    "mutate_source",
    "mutator_problems",
    "parse",
    "require",
]
