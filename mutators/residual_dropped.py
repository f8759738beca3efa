from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, SiteContext

from ._attention import first_arg_value, is_dropout_call, mentions_name, residual_update
from ._context import scope_words
from ._patterns import dotted_name


class ResidualDropped(Mutator):
    """A residual connection is lost: ``x = x + sublayer(x)`` becomes ``x = sublayer(x)``.

    Usually a refactor that renames the stream (``h = ...``; ``x = self.attn(h)``) or splits a
    block into helper functions and forgets to add the input back. A single layer still trains,
    but the identity path that lets gradients reach early layers is gone: deep stacks train much
    slower or not at all, and the layer's output no longer carries the input tokens. Sites: an
    assignment ``x = x + branch`` or ``x += branch`` whose branch is a sub-layer applied to the
    stream: a call of a module (``self.attn(...)``, possibly under a dropout or indexed) that
    reads ``x`` (directly or through a name computed from it, ``h = self.norm1(x)``). A running
    total (``total += loss.item()``, ``entries += [...]``) or a table added to the stream
    (``x + self.pe[:T]``) is no residual.
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
        Example(
            "def forward(self, x):\n    h = self.norm1(x)\n    x = x + self.drop(self.attn(h, h, h))\n",
            "def forward(self, x):\n    h = self.norm1(x)\n    x = self.drop(self.attn(h, h, h))\n",
        ),
        Example("x += self.mlp(self.ln_2(x))\n", "x = self.mlp(self.ln_2(x))\n"),
        Example(
            "x = x + self.attn(self.attn_ln(x), mask=mask)[0]\n",
            "x = self.attn(self.attn_ln(x), mask=mask)[0]\n",
        ),
    )
    UNCHANGED = (
        "n += 1\n",
        "x = y + f(x)\n",
        "total = total + loss.item\n",
        "total_loss += loss.item()\n",
        "entries += [str(m) for m in self.meters]\n",
        "x = x + self.pe[: x.size(0), :]\n",
        "sim = sim + self.cope(q, other)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        found = residual_update(node)
        if found is None:
            return ()
        name, branch = found
        if not _sublayer_of_stream(self.context, branch, name):
            return ()
        return (cst.Assign(targets=[cst.AssignTarget(cst.Name(name))], value=branch),)


def _sublayer_of_stream(context: SiteContext, branch: cst.BaseExpression, stream: str) -> bool:
    """Whether ``branch`` applies a module to the stream: ``self.attn(norm(x))[0]``,
    ``dropout(self.mlp(h))`` with ``h`` computed from ``x``, ``block(x)`` in a forward; not an
    additive term computed from something else (``sim + self.cope(q, sim)``)."""
    while True:
        if isinstance(branch, cst.Subscript):
            branch = branch.value
        elif isinstance(branch, cst.Call) and is_dropout_call(branch):
            branch = first_arg_value(branch)
        else:
            break
    if not isinstance(branch, cst.Call):
        return False
    callee = dotted_name(branch.func)
    if callee is None:
        return False
    if not callee.startswith("self.") and not scope_words(context) & {"forward", "block", "layer"}:
        return False
    # the sub-layer's input, its first argument, is the stream or computed from it
    if not branch.args or branch.args[0].keyword is not None:
        return False
    first = branch.args[0].value
    if mentions_name(first, stream):
        return True
    source = context.value_of(first) if isinstance(first, cst.Name) else None
    return source is not None and mentions_name(source, stream)
