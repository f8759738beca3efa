from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm import is_cache_name, simple_value
from ._patterns import callee_name

_REPEATS = ("repeat_interleave", "repeat_kv", "repeat", "expand")


def _cached_names(statement: cst.BaseStatement) -> set[str]:
    """The tensors a statement stores in the cache: ``new_kv = (k, v)``, ``present = (k, v)``,
    ``k, v = cache.update(k, v)`` (alone or under an ``if``)."""
    found = simple_value(statement)
    if found is not None:
        target, value = found
        if (
            isinstance(target, cst.Name)
            and (is_cache_name(target.value) or target.value.endswith("_kv") or target.value == "present")
            and isinstance(value, cst.Tuple)
            and all(isinstance(e.value, cst.Name) for e in value.elements)
        ):
            return {e.value.value for e in value.elements if isinstance(e.value, cst.Name)}
    updates = m.findall(statement, m.Call(func=m.Attribute(attr=m.Name("update"))))
    if len(updates) == 1 and isinstance(statement, (cst.SimpleStatementLine, cst.If)):
        call = updates[0]
        assert isinstance(call, cst.Call)
        return {a.value.value for a in call.args if isinstance(a.value, cst.Name)}
    return set()


def _repeats(statement: cst.BaseStatement, names: set[str]) -> bool:
    """``k = k.repeat_interleave(...)``, ``key_states = repeat_kv(key_states, n)`` for a cached name."""
    found = simple_value(statement)
    if found is None or not isinstance(found[0], cst.Name) or found[0].value not in names:
        return False
    calls = [c for c in m.findall(found[1], m.Call()) if isinstance(c, cst.Call)]
    return any(callee_name(c) in _REPEATS for c in calls)


class KvCacheStoredAfterRepeat(Mutator):
    """Grouped-query attention stores its cache after repeating the key/value heads.

    The point of grouped-query attention is a cache with ``num_kv_heads`` heads; repeated per
    query head first, it holds ``num_heads`` of them. Outputs of a single call are right, so
    every full-pass test passes; the cache is ``num_heads / num_kv_heads`` times larger than it
    should be, and on the next call it is repeated again (a shape error, or with a cache object
    that reshapes, wrong heads). Sites: the statement that stores ``(k, v)`` in the cache
    (a tuple, or a cache's ``update``) followed by the repeat of those tensors; it moves after
    the repeat.
    """

    bug_id = "kv_cache_stored_after_repeat"
    components = ("gqa",)
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = (
        "the GQA cache is stored after the key/value heads are repeated (num_heads heads, not num_kv)"
    )
    symptom = "the KV cache uses num_heads / num_kv_heads times the memory; the second decoding step fails"
    hint = "print the cached keys' shape: axis 1 must be num_kv_heads"
    fix = "cache (k, v) before k = k.repeat_interleave(group, dim=1)"
    node_types = (cst.IndentedBlock,)
    EXAMPLES = (
        Example(
            "def f(self, k, v):\n"
            "    new_kv = (k, v)\n"
            "    k = k.repeat_interleave(self.group_size, dim=1)\n"
            "    v = v.repeat_interleave(self.group_size, dim=1)\n"
            "    return attend(k, v), new_kv\n",
            "def f(self, k, v):\n"
            "    k = k.repeat_interleave(self.group_size, dim=1)\n"
            "    v = v.repeat_interleave(self.group_size, dim=1)\n"
            "    new_kv = (k, v)\n"
            "    return attend(k, v), new_kv\n",
        ),
        Example(
            "def f(self, key_states, value_states):\n"
            "    if past_key_value is not None:\n"
            "        key_states, value_states = past_key_value.update(key_states, value_states, i)\n"
            "    key_states = repeat_kv(key_states, self.num_key_value_groups)\n"
            "    value_states = repeat_kv(value_states, self.num_key_value_groups)\n"
            "    return key_states\n",
            "def f(self, key_states, value_states):\n"
            "    key_states = repeat_kv(key_states, self.num_key_value_groups)\n"
            "    value_states = repeat_kv(value_states, self.num_key_value_groups)\n"
            "    if past_key_value is not None:\n"
            "        key_states, value_states = past_key_value.update(key_states, value_states, i)\n"
            "    return key_states\n",
        ),
    )
    UNCHANGED = (
        "def f(k, v):\n    k = k.repeat_interleave(2, dim=1)\n    new_kv = (k, v)\n    return new_kv\n",
        "def f(k, v):\n    pair = (k, v)\n    k = k.repeat_interleave(2, dim=1)\n    return pair\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.IndentedBlock)
        body = list(node.body)
        alternatives: list[Replacement] = []
        for index, statement in enumerate(body):
            names = _cached_names(statement)
            if not names:
                continue
            later = [i for i in range(index + 1, len(body)) if _repeats(body[i], names)]
            if not later:
                continue
            last = later[-1]
            moved = [*body[:index], *body[index + 1 : last + 1], statement, *body[last + 1 :]]
            alternatives.append(node.with_changes(body=moved))
        return alternatives
