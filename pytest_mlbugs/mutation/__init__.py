"""The mutation engine: mutators, their sites, and how a bug is written into source.

A mutator is a class with one job: given a libcst node, say which buggy replacements it
could put in its place (:meth:`Mutator.mutations`). Everything else (finding every site in a
module, addressing a site by number, applying several bugs at once, refusing output that does
not compile) lives here, once, so that a mutator stays a few lines of pattern and rewrite.

Sites are numbered in one deterministic traversal order, post-order as ``on_leave`` sees the
nodes: an inner node counts before the node around it (in ``-log(x.arange(...))`` the
``arange`` call is a lower site number than the ``-log``). So ``(bug_id, index)`` names the same
place in the same source on every machine (cosmic-ray's "occurrence"), and ``Example(site=...)``
counts the same way.

A mutator that needs to know what surrounds a site (the enclosing function and class, the call a
node is an argument of, what a name was assigned from, qualified names) reads
:attr:`Mutator.context`, a :class:`SiteContext` the engine provides for the node it is offering,
built lazily and cached per module, so that asking costs nothing for the mutators that do not.
``mutations(self, node)`` keeps its signature. A replacement may be a :class:`Rewrite`, which
names the bug it really writes at that site (a dropout skipped inside attention is "attention
dropout skipped"); :attr:`Site.description` carries it, or the mutator's ``description``.

Third-party mutators run here too, so nothing a mutator does may take the session down: an
exception becomes a :class:`MutatorError` naming it, so does a return value that is not a
sequence of nodes, and each mutator has :data:`MUTATOR_TIME_LIMIT` seconds per pass over one
module (a ``SIGALRM`` timer in the main thread stops one that loops). :func:`find_sites_isolating`
leaves such a mutator out and reports it, so that the others' sites are found all the same.
"""

from __future__ import annotations

from pytest_mlbugs.mutation.context import SiteContext
from pytest_mlbugs.mutation.engine import (
    MUTATOR_TIME_LIMIT,
    apply_sites,
    changed_span,
    find_sites,
    find_sites_isolating,
    mutate_source,
    parse,
    unified_diff,
)
from pytest_mlbugs.mutation.model import (
    Category,
    Example,
    Layer,
    Mutator,
    MutatorError,
    Replacement,
    Rewrite,
    Site,
)

__all__ = [
    "MUTATOR_TIME_LIMIT",
    "Category",
    "Example",
    "Layer",
    "Mutator",
    "MutatorError",
    "Replacement",
    "Rewrite",
    "Site",
    "SiteContext",
    "apply_sites",
    "changed_span",
    "find_sites",
    "find_sites_isolating",
    "mutate_source",
    "parse",
    "unified_diff",
]
