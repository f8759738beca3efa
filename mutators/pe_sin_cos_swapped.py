from __future__ import annotations

from collections.abc import Sequence

import libcst as cst

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import callee_name

_SWAP = {"sin": "cos", "cos": "sin"}


def _trig_calls(node: cst.CSTNode) -> set[str]:
    found: set[str] = set()

    class _Finder(cst.CSTVisitor):
        def visit_Call(self, call: cst.Call) -> None:
            name = callee_name(call)
            if name in _SWAP:
                found.add(name)

    node.visit(_Finder())
    return found


class _Swapper(cst.CSTTransformer):
    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        func = updated_node.func
        name = callee_name(updated_node)
        if name not in _SWAP:
            return updated_node
        if isinstance(func, cst.Attribute):
            return updated_node.with_changes(func=func.with_changes(attr=cst.Name(_SWAP[name])))
        return updated_node.with_changes(func=cst.Name(_SWAP[name]))


class PeSinCosSwapped(Mutator):
    """Sine and cosine trade places in the positional table: cosines on even columns.

    The swapped table is still a valid set of sinusoids, so a model trained from scratch
    learns around it; but a checkpoint trained with the standard table, or code that relies on
    ``pe[pos, 0] == sin(pos)`` (relative-position tricks, rotary comparisons), silently
    disagrees. A site is the smallest block of statements (or list/tuple) in which one part
    computes only sines and another only cosines; both are swapped together.
    """

    bug_id = "pe_sin_cos_swapped"
    components = ("positional_encoding", "rope")
    category = Category.DATA
    layer = Layer.DATA
    description = "swap sine and cosine in the positional table (cos on even columns)"
    symptom = "a pretrained checkpoint performs at chance; positions are encoded differently"
    hint = "print pe[0, 1, :4]: the even columns must be sin(1 * freq), the odd ones cos"
    fix = "pe[:, 0::2] = torch.sin(position * div_term); pe[:, 1::2] = torch.cos(position * div_term)"
    node_types = (cst.IndentedBlock, cst.Module, cst.List, cst.Tuple)
    EXAMPLES = (
        Example(
            "pe[:, 0::2] = torch.sin(a)\npe[:, 1::2] = torch.cos(a)\n",
            "pe[:, 0::2] = torch.cos(a)\npe[:, 1::2] = torch.sin(a)\n",
        ),
        Example(
            "pe = torch.stack([torch.sin(a), torch.cos(a)], dim=-1)\n",
            "pe = torch.stack([torch.cos(a), torch.sin(a)], dim=-1)\n",
        ),
    )
    UNCHANGED = ("y = torch.sin(a)\n", "z = (torch.sin(a), x)\n", "w = torch.sin(a) + torch.cos(a)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        parts: list[cst.CSTNode]
        if isinstance(node, (cst.IndentedBlock, cst.Module)):
            parts = list(node.body)
        else:
            assert isinstance(node, (cst.List, cst.Tuple))
            parts = list(node.elements)
        kinds = [_trig_calls(part) for part in parts]
        if {"sin"} not in kinds or {"cos"} not in kinds:
            return ()
        swapped = [
            part.visit(_Swapper()) if len(kind) == 1 else part
            for part, kind in zip(parts, kinds, strict=True)
        ]
        if isinstance(node, (cst.IndentedBlock, cst.Module)):
            return (node.with_changes(body=swapped),)
        return (node.with_changes(elements=swapped),)
