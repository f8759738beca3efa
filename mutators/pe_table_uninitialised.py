from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import argument, callee_name

#: words of a buffer name that mark a positional table (``pe``, ``pos_table``, ``position_ids``)
_POSITIONAL_WORDS = ("pe", "sinusoid", "sinusoids", "encoding", "encodings")


def _is_positional(name: str) -> bool:
    words = name.lower().split("_")
    return any(word in _POSITIONAL_WORDS or word.startswith("pos") for word in words)


class PeTableUninitialised(Mutator):
    """The positional table is registered uninitialised: ``torch.empty`` where the sinusoids
    should be.

    Code that allocates the table with ``torch.empty`` and fills it in a separate
    ``_init_weights`` or ``reset_parameters`` (run by ``from_pretrained`` or by a checkpoint
    load, never by ``__init__``) ends up with whatever the memory held: zeros on a fresh page,
    the remains of a freed tensor elsewhere. Nothing crashes; the model gets positions that
    carry no order, or differ from run to run and machine to machine. Sites: a
    ``register_buffer`` of a positional name (``pe``, ``pos_table``, ``positional_embedding``,
    ``position_ids``); its value becomes ``torch.empty_like(value)``.
    """

    bug_id = "pe_table_uninitialised"
    components = ("positional_encoding",)
    category = Category.NUMERICS
    layer = Layer.DATA
    description = "register the positional table as uninitialised memory (torch.empty) instead of its values"
    symptom = "word order barely matters to the model; results differ between runs of the same seed"
    hint = "print pe[0, :3, :4] right after building the module: sin(0) = 0 and cos(0) = 1?"
    fix = "fill the table before registering it (or call the init that fills it in __init__)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            'self.register_buffer("pe", pe.unsqueeze(0))\n',
            'self.register_buffer("pe", torch.empty_like(pe.unsqueeze(0)))\n',
        ),
        Example(  # whisper
            'self.register_buffer("positional_embedding", sinusoids(n_ctx, n_state))\n',
            'self.register_buffer("positional_embedding", torch.empty_like(sinusoids(n_ctx, n_state)))\n',
        ),
        Example(  # Hugging Face
            'self.register_buffer("position_ids", torch.arange(n).expand((1, -1)), persistent=False)\n',
            'self.register_buffer("position_ids", torch.empty_like(torch.arange(n).expand((1, -1))), '
            "persistent=False)\n",
        ),
    )
    UNCHANGED = (
        'self.register_buffer("k_cache", torch.zeros(shape))\n',
        'self.register_buffer("mask", causal)\n',
        "self.register_buffer(name, pe)\n",
        'self.register_buffer("pe", torch.empty(1, n, d))\n',
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if callee_name(node) != "register_buffer":
            return ()
        name = argument(node, keyword="name", position=0)
        value = argument(node, keyword="tensor", position=1)
        if name is None or value is None or not isinstance(name[1].value, cst.SimpleString):
            return ()
        if not _is_positional(str(name[1].value.evaluated_value)):
            return ()
        tensor = value[1].value
        if isinstance(tensor, cst.Call) and callee_name(tensor) in ("empty", "empty_like"):
            return ()  # already uninitialised
        empty = cst.Call(
            func=cst.Attribute(value=cst.Name("torch"), attr=cst.Name("empty_like")), args=[cst.Arg(tensor)]
        )
        args = list(node.args)
        args[value[0]] = args[value[0]].with_changes(value=empty)
        return (node.with_changes(args=args),)
