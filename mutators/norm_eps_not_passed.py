from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_layers import without_argument
from ._patterns import callee_name, int_literal


def _is_norm_constructor(name: str) -> bool:
    """``RMSNorm``, ``nn.LayerNorm``, ``LlamaRMSNorm``, ``config.norm_class``, ``norm_layer``: a norm
    module being built, not a function that normalizes (``F.normalize``, ``F.layer_norm``)."""
    lowered = name.lower()
    if "norm" not in lowered:
        return False
    return name[0].isupper() or any(word in lowered for word in ("class", "cls", "norm_layer"))


class NormEpsNotPassed(Mutator):
    """A block builds its norms without passing on its ``eps``: the norm's default is used.

    ``RMSNorm(dim, eps=config.norm_eps)`` loses its keyword in a refactor, or one of two norms
    never got it: Llama's 1e-5 or 1e-6, Gemma's 1e-6, OLMo's 1e-5 and a module default of 1e-6
    or 1e-5 are close enough that nothing breaks, and outputs differ only on small activations,
    so a converted checkpoint is slightly but consistently off and fine-tuning diverges from
    the reference implementation. Sites: a norm constructor (a class whose name contains
    ``Norm``, or a ``norm_class`` / ``norm_layer`` factory) given ``eps=`` something other than a
    literal; the keyword is dropped.
    """

    bug_id = "norm_eps_not_passed"
    components = ("llama_block",)
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = "a norm is built without the block's eps (the module default is used instead)"
    symptom = "a converted checkpoint is slightly off; small activations are normalized differently"
    hint = "print each norm's eps and compare with the configuration"
    fix = "self.attention_norm = RMSNorm(d_model, eps=eps); self.ffn_norm = RMSNorm(d_model, eps=eps)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "self.ffn_norm = RMSNorm(args.dim, eps=args.norm_eps)\n", "self.ffn_norm = RMSNorm(args.dim)\n"
        ),
        Example(
            "self.input_layernorm = LlamaRMSNorm(config.hidden_size, eps=config.rms_norm_eps)\n",
            "self.input_layernorm = LlamaRMSNorm(config.hidden_size)\n",
        ),
        Example(
            "self.norm_1 = config.norm_class(config.n_embd, eps=config.norm_eps)\n",
            "self.norm_1 = config.norm_class(config.n_embd)\n",
        ),
    )
    UNCHANGED = (
        "n = nn.LayerNorm(d, eps=1e-5)\n",
        "y = F.normalize(t, dim=-1, eps=eps)\n",
        "n = RMSNorm(d)\n",
        "y = F.layer_norm(x, shape, eps=self.eps)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if not _is_norm_constructor(callee_name(node) or ""):
            return ()
        for index, arg in enumerate(node.args):
            if arg.keyword is None or arg.keyword.value != "eps":
                continue
            if int_literal(arg.value) is not None or isinstance(arg.value, cst.Float):
                return ()
            return (without_argument(node, index),)
        return ()
