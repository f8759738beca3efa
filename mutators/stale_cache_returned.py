from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm_layers import cache_parameter


def _is_new_cache(name: str, parameter: str) -> bool:
    lowered = name.lower()
    if name == parameter:
        return False
    return lowered.endswith("kv") or any(word in lowered for word in ("past", "present", "cache"))


class StaleCacheReturned(Mutator):
    """A layer returns the cache it was given instead of the one it just extended.

    ``return out, past_kv`` where ``return out, new_past_kv`` belongs: a typo between two names
    that differ by a prefix. The first call (no cache) returns ``None`` and the caller's next
    step re-encodes from scratch, or later calls keep handing back the cache of the prompt: the
    new tokens are never cached, so generation forgets everything after the prompt. A full
    forward pass is unaffected. Sites: in a function with a cache parameter, a returned tuple
    element that names a new cache; it becomes the parameter.
    """

    bug_id = "stale_cache_returned"
    components = ("gqa", "llama_block")
    category = Category.STATE_DEVICE
    layer = Layer.SHAPES
    description = "return the cache that was passed in instead of the updated one"
    symptom = "generated text ignores everything after the prompt; a full forward pass is right"
    hint = "after two calls, does the returned cache hold every position fed so far?"
    fix = "return out, new_past_kv (the cache extended by this call)"
    node_types = (cst.FunctionDef,)
    EXAMPLES = (
        Example(
            "def forward(self, x, past_kv=None):\n    return x, new_past_kv\n",
            "def forward(self, x, past_kv=None):\n    return x, past_kv\n",
        ),
        Example(
            "def forward(self, hidden_states, layer_past=None):\n    return (hidden_states, present)\n",
            "def forward(self, hidden_states, layer_past=None):\n    return (hidden_states, layer_past)\n",
        ),
    )
    UNCHANGED = (
        "def forward(self, x):\n    return x, new_kv\n",
        "def forward(self, x, past_kv=None):\n    return x, weights\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.FunctionDef)
        parameter = cache_parameter(node)
        if parameter is None:
            return ()
        alternatives: list[Replacement] = []
        for returned in m.findall(node.body, m.Return(value=m.Tuple())):
            assert isinstance(returned, cst.Return) and isinstance(returned.value, cst.Tuple)
            for element in returned.value.elements:
                if isinstance(element.value, cst.Name) and _is_new_cache(element.value.value, parameter):
                    stale = returned.deep_replace(element.value, cst.Name(parameter))
                    rewritten = node.deep_replace(returned, stale)
                    assert isinstance(rewritten, cst.FunctionDef)
                    alternatives.append(rewritten)
        return alternatives
