from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement, Rewrite, SiteContext

from ._attention import is_residual_dropout
from ._context import code, scope_words, words
from ._patterns import callee_name, dotted_name

_POSITION_WORDS = frozenset(("pe", "pos", "position", "positional", "positions", "wpe", "rope"))
_ATTENTION_WORDS = frozenset(("attn", "att", "attention", "weights", "probs", "scores", "sim"))
_EMBEDDING_WORDS = frozenset(("emb", "embed", "embedding", "embeddings", "encoder", "wte", "tok", "token"))


class PeDropoutSkipped(Mutator):
    """The dropout after adding the positional encoding is never applied.

    The module is built with ``nn.Dropout(p)`` but ``forward`` returns ``x + pe`` directly
    (often after a refactor that split the line in two). Nothing crashes, eval results are
    identical, and the only trace is a model that overfits sooner than the paper's recipe
    predicts. A site is a call of a module attribute whose name contains ``drop``
    (``self.dropout(x)``) or of ``F.dropout(x, ...)``: the call is replaced by its input. The
    dropout it removes is named from where it is: after the positional encoding (the input
    reads ``pe``/``pos``), on the attention weights, on the embeddings, or a plain dropout
    layer; the dropout of a residual branch is ``residual_dropout_missing``'s.
    """

    bug_id = "pe_dropout_skipped"
    components = ("positional_encoding",)
    category = Category.OPTIMIZATION
    layer = Layer.EVALUATION
    description = "skip the dropout after adding the positional encoding"
    symptom = "the model overfits: training loss keeps falling while validation loss rises"
    hint = "with dropout=1.0 in train mode the output must be all zeros"
    fix = "return self.dropout(x + self.pe[:, : x.size(1)])"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("x = self.dropout(x)\n", "x = x\n"),
        Example("y = F.dropout(x + p, self.p, self.training)\n", "y = x + p\n"),
        Example("x = self.transformer.drop(tok_emb + pos_emb)\n", "x = tok_emb + pos_emb\n"),
        Example(
            "w = nn.functional.dropout(w, p=self.attention_dropout, training=self.training)\n",
            "w = w\n",
        ),
    )
    UNCHANGED = (
        "y = self.norm(x)\n",
        "y = self.dropout\n",
        "y = drop(x)\n",
        "y = self.resid_dropout(self.c_proj(y))\n",
        "x = x + self.dropout(self.ffn(x))\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement | Rewrite]:
        assert isinstance(node, cst.Call)
        if not node.args or node.args[0].keyword is not None or node.args[0].star:
            return ()
        func = node.func
        owner = dotted_name(func.value) if isinstance(func, cst.Attribute) else None
        module_call = (
            owner is not None and owner.split(".")[0] == "self" and "drop" in (callee_name(node) or "")
        )
        functional = (
            callee_name(node) == "dropout"
            and owner is not None
            and owner.split(".")[-1] in ("F", "functional")
        )
        if not ((module_call and len(node.args) == 1) or functional):
            return ()
        context = self.context
        if is_residual_dropout(context, node):
            return ()
        which = _which_dropout(context, node)
        if which is None:
            return (node.args[0].value,)
        return (Rewrite(node.args[0].value, which),)


def _which_dropout(context: SiteContext, call: cst.Call) -> str | None:
    """The description of the dropout ``call`` removes, ``None`` for the positional encoding's."""
    value = call.args[0].value
    names = words(code(value))
    source = context.value_of(value) if isinstance(value, cst.Name) else None
    if source is not None:
        names |= words(code(source))
    if names & _POSITION_WORDS or scope_words(context) & {"positional", "position"}:
        return None
    callee = words(callee_name(call) or "")
    if (names | callee) & _ATTENTION_WORDS:
        return "skip the dropout on the attention weights"
    if names & _EMBEDDING_WORDS:
        return "skip the dropout on the embeddings"
    return "skip a dropout layer: the activations are not regularized in training"
