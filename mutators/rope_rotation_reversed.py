from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._patterns import callee_name

_PLAIN = m.Name() | m.Subscript() | m.Attribute()


class RopeRotationReversed(Mutator):
    """``rotate_half`` puts the minus sign on the wrong half: ``cat((x2, -x1))`` for ``cat((-x2, x1))``.

    Every pair is then turned by minus its angle. Dot products still depend only on the distance
    of two positions and norms are kept, so the textbook invariants of rotary embeddings all
    hold and a model trained from scratch learns around it; but weights trained with the
    standard rotation (every Llama, NeoX or Mistral checkpoint) see every relative position
    mirrored, and perplexity is far worse. Sites: a two-element ``torch.cat`` whose first element
    is a negated tensor and whose second is a plain one, and the
    ``torch.stack`` of GPT-J's interleaved ``rotate_every_two``.
    """

    bug_id = "rope_rotation_reversed"
    components = ("rope",)
    category = Category.DATA
    layer = Layer.DATA
    description = "rotate_half negates the wrong half: each pair turns by minus its angle"
    symptom = (
        "a pretrained checkpoint's perplexity is far worse than published; training from scratch looks fine"
    )
    hint = "rotate_half([1, 2, 3, 4]) must be [-3, -4, 1, 2], not [3, 4, -1, -2]"
    fix = "return torch.cat((-x2, x1), dim=-1)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example("y = torch.cat((-x2, x1), dim=-1)\n", "y = torch.cat((x2, -x1), dim=-1)\n"),
        Example(
            "y = torch.cat([-x[..., half:], x[..., :half]], -1)\n",
            "y = torch.cat([x[..., half:], -x[..., :half]], -1)\n",
        ),
        Example("x = torch.stack((-x2, x1), dim=-1)\n", "x = torch.stack((x2, -x1), dim=-1)\n"),
    )
    UNCHANGED = (
        "y = torch.cat((x2, x1), dim=-1)\n",
        "y = torch.cat((-a, -b))\n",
        "y = torch.cat((-a, b, c))\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if callee_name(node) not in ("cat", "stack") or not node.args:
            return ()
        pair = node.args[0].value
        if not isinstance(pair, (cst.Tuple, cst.List)) or len(pair.elements) != 2:
            return ()
        first, second = (element.value for element in pair.elements)
        negated = m.UnaryOperation(operator=m.Minus(), expression=_PLAIN)
        if not (m.matches(first, negated) and m.matches(second, _PLAIN)):
            return ()
        assert isinstance(first, cst.UnaryOperation)
        elements = [
            pair.elements[0].with_changes(value=first.expression),
            pair.elements[1].with_changes(value=cst.UnaryOperation(cst.Minus(), second)),
        ]
        return (
            node.with_changes(
                args=[node.args[0].with_changes(value=pair.with_changes(elements=elements)), *node.args[1:]]
            ),
        )
