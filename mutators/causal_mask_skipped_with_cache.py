from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import is_minus_infinity_fill, masked_fill_args, where_fill_args
from ._llm import simple_value
from ._llm_layers import cache_parameter
from ._patterns import callee_name, code

_CAUSAL_WORDS = ("causal", "tril", "triu", "bias", "allowed", "mask")


def _applies_causal_mask(statement: cst.BaseStatement) -> bool:
    """``scores = scores.masked_fill(~causal, -inf)`` (or ``torch.where``) with a mask named causal."""
    found = simple_value(statement)
    if found is None or not isinstance(found[1], cst.Call):
        return False
    args = masked_fill_args(found[1]) or where_fill_args(found[1])
    if args is None or not is_minus_infinity_fill(args[1][1].value):
        return False
    mask = code(args[0][1].value).lower()
    return any(word in mask for word in _CAUSAL_WORDS)


def _is_causal_flag(arg: cst.Arg) -> bool:
    return (
        arg.keyword is not None and arg.keyword.value == "is_causal" and m.matches(arg.value, m.Name("True"))
    )


class CausalMaskSkippedWithCache(Mutator):
    """The causal mask is applied only when there is no cache: several new tokens given with a
    cache see each other's future.

    Token-by-token decoding needs no mask (the one new token may read every cached position), so
    code that masks only the prompt (``if past_kv is None``, ``is_causal=past_kv is None``)
    passes every test of a full pass and of greedy generation. Chunked prefill, speculative
    decoding or a second prompt turn feed several tokens with a cache: each of them then attends
    to the tokens after it, and their outputs differ from one full pass. Sites: in a function
    with a cache parameter, a statement that fills causally masked scores with minus infinity
    (it gets ``if <cache> is None:``), and ``is_causal=True`` (it becomes ``<cache> is None``).
    """

    bug_id = "causal_mask_skipped_with_cache"
    components = ("gqa",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "no causal mask when several new tokens arrive with a cache (only the prompt is masked)"
    symptom = "chunked prefill or speculative decoding differ from one full pass; greedy decoding is fine"
    hint = "feed 3 tokens after a cached prefix and compare with the full pass"
    fix = "mask every call: query t (position past_len + t) may read keys 0..past_len + t"
    node_types = (cst.FunctionDef,)
    EXAMPLES = (
        Example(
            "def forward(self, x, past_kv=None):\n"
            "    scores = scores.masked_fill(~causal, float('-inf'))\n"
            "    return scores\n",
            "def forward(self, x, past_kv=None):\n"
            "    if past_kv is None:\n"
            "        scores = scores.masked_fill(~causal, float('-inf'))\n"
            "    return scores\n",
        ),
        Example(
            "def forward(self, x, layer_past=None):\n"
            "    y = F.scaled_dot_product_attention(q, k, v, is_causal=True)\n"
            "    return y\n",
            "def forward(self, x, layer_past=None):\n"
            "    y = F.scaled_dot_product_attention(q, k, v, is_causal=layer_past is None)\n"
            "    return y\n",
        ),
    )
    UNCHANGED = (
        "def forward(self, x):\n    return F.scaled_dot_product_attention(q, k, v, is_causal=True)\n",
        "def forward(self, x, past_kv=None):\n    s = s.masked_fill(~pad, 0.0)\n    return s\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.FunctionDef)
        cache = cache_parameter(node)
        if cache is None or not isinstance(node.body, cst.IndentedBlock):
            return ()
        without_cache = cst.parse_expression(f"{cache} is None")
        alternatives: list[Replacement] = []
        body = list(node.body.body)
        for index, statement in enumerate(body):
            if _applies_causal_mask(statement):
                assert isinstance(statement, cst.SimpleStatementLine)
                guarded = cst.If(
                    test=without_cache,
                    body=cst.IndentedBlock(body=[statement.with_changes(leading_lines=())]),
                    leading_lines=statement.leading_lines,
                )
                alternatives.append(self._with_body(node, [*body[:index], guarded, *body[index + 1 :]]))
        for call in m.findall(node.body, m.Call()):
            assert isinstance(call, cst.Call)
            for position, arg in enumerate(call.args):
                if _is_causal_flag(arg) and callee_name(call) == "scaled_dot_product_attention":
                    args = list(call.args)
                    args[position] = arg.with_changes(value=without_cache)
                    rewritten = node.body.deep_replace(call, call.with_changes(args=args))
                    assert isinstance(rewritten, cst.IndentedBlock)
                    alternatives.append(node.with_changes(body=rewritten))
        return alternatives

    @staticmethod
    def _with_body(node: cst.FunctionDef, statements: list[cst.BaseStatement]) -> cst.FunctionDef:
        assert isinstance(node.body, cst.IndentedBlock)
        return node.with_changes(body=node.body.with_changes(body=statements))
