from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm import simple_value, upcast_receiver, with_value
from ._patterns import dotted_name

#: what positions, frequencies and angles are called while a rotary (or sinusoidal) table is built
_ANGLE_NAMES = (
    "positions",
    "position",
    "position_ids",
    "t",
    "seq_idx",
    "inv_freq",
    "freqs",
    "freq",
    "theta",
    "angles",
    "idx_theta",
    "div_term",
)
_FREQUENCY_NAMES = ("inv_freq", "freqs", "theta", "angles", "idx_theta")
_BFLOAT16 = cst.Attribute(value=cst.Name("torch"), attr=cst.Name("bfloat16"))


def _target_name(target: cst.BaseExpression) -> str | None:
    if isinstance(target, cst.Name):
        return target.value
    if m.matches(target, m.Attribute(value=m.Name("self"))):
        assert isinstance(target, cst.Attribute)
        return target.attr.value
    return None


class AnglesLowPrecision(Mutator):
    """Positions and angles of a rotary or sinusoidal table are computed in bfloat16, not float32.

    bfloat16 has 8 significant bits: integers above 256 are no longer exact (position 1001 becomes
    1000), and ``position * inv_freq`` for a high-frequency pair is off by whole radians at a
    few thousand tokens. The same code built under ``torch.set_default_dtype(torch.bfloat16)``, or
    with the model's dtype passed to ``arange``, does exactly this. Short sequences and float32
    tests are unaffected; long contexts in a bfloat16 model collapse far positions onto each
    other. Sites: a ``dtype=torch.float32`` or ``.float()`` in the statement that builds positions,
    frequencies or angles (``t``, ``inv_freq``, ``freqs``, ``theta``, ``div_term``...); it becomes
    bfloat16.
    """

    bug_id = "angles_low_precision"
    components = ("rope", "positional_encoding")
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = (
        "positions/frequencies of a rotary or sinusoidal table computed in bfloat16: far positions collide"
    )
    symptom = (
        "a bfloat16 model degrades beyond a few hundred tokens; short prompts and float32 runs look fine"
    )
    hint = "print torch.arange(1000, 1010, dtype=torch.bfloat16): are the positions still distinct?"
    fix = "build positions and angles in float32 (dtype=torch.float32) and cast only the final cos/sin"
    node_types = (cst.SimpleStatementLine,)
    EXAMPLES = (
        Example(
            "t = torch.arange(max_seq_len, dtype=torch.float32)\n",
            "t = torch.arange(max_seq_len, dtype=torch.bfloat16)\n",
        ),
        Example(
            "inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))\n",
            "inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).to(torch.bfloat16) / dim))\n",
        ),
        Example(
            "freqs = (inv_freq_expanded.float() @ position_ids_expanded.float())\n",
            "freqs = (inv_freq_expanded.to(torch.bfloat16) @ position_ids_expanded.float())\n",
        ),
    )
    UNCHANGED = ("x = torch.arange(n, dtype=torch.float32)\n", "t = torch.arange(n)\n", "t = mask.float()\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.SimpleStatementLine)
        found = simple_value(node)
        if found is None or _target_name(found[0]) not in _ANGLE_NAMES:
            return ()
        value = found[1]
        # a generic name (t, position) builds positions only from an arange; these names are angles
        specific = _target_name(found[0]) in _FREQUENCY_NAMES
        alternatives: list[Replacement] = []
        for call in m.findall(value, m.Call()):
            assert isinstance(call, cst.Call)
            lowered = self._lowered(call)
            if lowered is not None and (
                specific or m.findall(value, m.Call(func=m.Attribute(attr=m.Name("arange"))))
            ):
                replaced = value.deep_replace(call, lowered)
                assert isinstance(replaced, cst.BaseExpression)
                alternatives.append(with_value(node, replaced))
        return alternatives

    def _lowered(self, call: cst.Call) -> cst.Call | None:
        """``call`` computing in bfloat16: its ``dtype=torch.float32`` or its ``.float()``."""
        for index, arg in enumerate(call.args):
            if (
                arg.keyword is not None
                and arg.keyword.value == "dtype"
                and dotted_name(arg.value)
                in (
                    "torch.float32",
                    "torch.float",
                )
            ):
                args = list(call.args)
                args[index] = arg.with_changes(value=_BFLOAT16)
                return call.with_changes(args=args)
        receiver = upcast_receiver(call)
        if receiver is not None and not call.args:
            return cst.Call(
                func=cst.Attribute(value=receiver, attr=cst.Name("to")), args=[cst.Arg(_BFLOAT16)]
            )
        return None
