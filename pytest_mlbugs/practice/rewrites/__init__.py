"""Semantics-preserving surface rewrites: every practice seed gets a fresh-looking exercise.

:func:`rewrite` turns a component's source (the reference, or a variant with bugs written in)
into another spelling of the same program, chosen by a seed:

- comments go (they say what a line should do, so they would give a bug away);
- locals of every function are renamed from a table of synonyms (``scores`` may become
  ``logits`` or ``attn``), never to a name already in use;
- equivalent forms swap: ``x.transpose(-2, -1)`` and ``x.mT``, ``torch.matmul(a, b)`` and
  ``a @ b``, ``F.softmax(x, dim=d)`` and ``x.softmax(dim=d)``;
- the denominator of ``x = a / f(b)`` moves into a local of its own (``denom = f(b)``);
- two adjacent assignments that neither read each other's result nor call anything impure
  swap places;
- a module-private helper function (``def _name``) that only returns an expression and is
  called once is inlined at its call site, and the value of an assignment moves into a new
  module-private helper (``scale = _scale(d_k)``) defined above its function.

Every choice is keyed by the seed and the node's own text, not by its position, so the
reference and a variant of it get the same spelling everywhere but at the bugs: a diff between
the two rewritten sources shows exactly the bugs. Parameters, attributes, keywords and
module-level names are never renamed: they are the contract.
"""

from __future__ import annotations

from collections.abc import Iterable

import libcst as cst

from pytest_mlbugs.practice.rewrites.forms import EquivalentForms, StripComments
from pytest_mlbugs.practice.rewrites.helpers import extract_helpers, inline_helpers
from pytest_mlbugs.practice.rewrites.names import qualified_function_names, rename_locals
from pytest_mlbugs.practice.rewrites.statements import ExtractDenominators, SwapIndependentAssignments
from pytest_mlbugs.practice.rewrites.syntax import identifiers

__all__ = ["identifiers", "qualified_function_names", "rewrite"]


def rewrite(source: str, *, seed: int, keep_docstrings: bool = True, avoid: Iterable[str] = ()) -> str:
    """Another spelling of ``source``, the same program; identical for the same seed.

    ``avoid`` adds names that renamed locals must not take (the names of a second source that
    is rewritten with the same seed, so that both get one renaming).
    """
    module = cst.parse_module(source)
    module = module.visit(StripComments(keep_docstrings=keep_docstrings))
    module = module.visit(EquivalentForms(seed, module))
    module = module.visit(ExtractDenominators(seed, module))
    module = module.visit(SwapIndependentAssignments(seed, module))
    module = inline_helpers(module, seed=seed)
    module = extract_helpers(module, seed=seed, avoid=set(avoid))
    module = rename_locals(module, seed=seed, avoid=set(avoid))
    return module.code
