from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import calls_in, replace_nodes

#: attribute names of (key projection, value projection) pairs seen in real code
_PAIRS = (("k_proj", "v_proj"), ("key_proj", "value_proj"), ("w_k", "w_v"), ("W_k", "W_v"), ("to_k", "to_v"))


def _projection_calls(statement: cst.CSTNode, attr: str) -> list[cst.Call]:
    return [c for c in calls_in(statement) if isinstance(c.func, cst.Attribute) and c.func.attr.value == attr]


class KeyValueProjectionsSwapped(Mutator):
    """The key projection is used to compute the values and the value projection the keys.

    A copy-paste slip between two lines that look alike. In self-attention the inputs of both
    projections are the same tensor, so only the roles of two learned matrices change and
    training hides the mistake until weights are loaded from a checkpoint or compared with
    ``nn.MultiheadAttention``; in cross-attention with distinct key and value inputs it computes
    something else outright. Sites: a block whose simple statements call the key and the value
    projection (``k_proj``/``v_proj`` and the other common spellings) exactly once each.
    """

    bug_id = "key_value_projections_swapped"
    components = ("attention", "gqa")
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "compute keys with v_proj and values with k_proj"
    symptom = "a checkpoint loaded into nn.MultiheadAttention (or from it) gives different outputs"
    hint = "check which projection each of q, k, v goes through"
    fix = "k = k_proj(key); v = v_proj(value)"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "def f(self, q, k, v):\n    k = self.k_proj(k)\n    v = self.v_proj(v)\n    return k, v\n",
            "def f(self, q, k, v):\n    k = self.v_proj(k)\n    v = self.k_proj(v)\n    return k, v\n",
        ),
        Example(
            "def f(self, x):\n    k, v = self.to_k(x), self.to_v(x)\n",
            "def f(self, x):\n    k, v = self.to_v(x), self.to_k(x)\n",
        ),
    )
    UNCHANGED = (
        "def f(self, x):\n    k = self.k_proj(x)\n    return k\n",
        "def f(self, x):\n    k = self.k_proj(x)\n    k = self.k_proj(k)\n    v = self.v_proj(x)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        lines = [s for s in node.body if isinstance(s, cst.SimpleStatementLine)]
        for key_attr, value_attr in _PAIRS:
            key_calls = [c for s in lines for c in _projection_calls(s, key_attr)]
            value_calls = [c for s in lines for c in _projection_calls(s, value_attr)]
            if len(key_calls) != 1 or len(value_calls) != 1:
                continue
            (key_call,), (value_call,) = key_calls, value_calls
            assert isinstance(key_call.func, cst.Attribute) and isinstance(value_call.func, cst.Attribute)
            swapped_key = key_call.with_changes(func=key_call.func.with_changes(attr=cst.Name(value_attr)))
            swapped_value = value_call.with_changes(
                func=value_call.func.with_changes(attr=cst.Name(key_attr))
            )
            return (replace_nodes(node, {id(key_call): swapped_key, id(value_call): swapped_value}),)
        return ()
