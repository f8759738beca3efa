from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement
from pytest_mlbugs.mutators._attention import calls_in, residual_update


class ResidualDropped(Mutator):
    """A residual connection is lost: ``x = x + sublayer(x)`` becomes ``x = sublayer(x)``.

    Usually a refactor that renames the stream (``h = ...``; ``x = self.attn(h)``) or splits a
    block into helper functions and forgets to add the input back. A single layer still trains,
    but the identity path that lets gradients reach early layers is gone: deep stacks train much
    slower or not at all, and the layer's output no longer carries the input tokens. Sites: an
    assignment ``x = x + branch`` or ``x += branch`` whose branch calls something (a sub-layer);
    a plain counter update like ``n += 1`` is not a residual.
    """

    bug_id = "residual_dropped"
    components = ("decoder", "llama_block")
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "drop a residual connection: x = sublayer(x) instead of x = x + sublayer(x)"
    symptom = "deep models stop learning; loss stalls far above where a shallow model gets"
    hint = "check that each sub-layer's output is added to its input"
    fix = "x = x + dropout(sublayer(norm(x)))"
    node_types = (cst.Assign, cst.AugAssign)
    EXAMPLES = (
        Example("x = x + self.drop(self.attn(h, h, h))\n", "x = self.drop(self.attn(h, h, h))\n"),
        Example("x += self.mlp(self.ln_2(x))\n", "x = self.mlp(self.ln_2(x))\n"),
    )
    UNCHANGED = ("n += 1\n", "x = y + f(x)\n", "total = total + loss.item\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        found = residual_update(node)
        if found is None or next(calls_in(found[1]), None) is None:
            return ()
        name, branch = found
        return (cst.Assign(targets=[cst.AssignTarget(cst.Name(name))], value=branch),)
