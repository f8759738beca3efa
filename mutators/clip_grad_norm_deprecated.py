from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement


class ClipGradNormDeprecated(Mutator):
    """``torch.nn.utils.clip_grad_norm_`` written as the deprecated ``clip_grad_norm``.

    The name without the trailing underscore is an old alias that only emits a
    ``FutureWarning`` (drowned in the logs) before calling the in-place version; it is
    scheduled for removal, and the run will break on the PyTorch upgrade. Common in code
    copied from old tutorials. Only the attribute form (``....clip_grad_norm_``) is a site: a
    bare imported name has no deprecated twin in scope.
    """

    bug_id = "clip_grad_norm_deprecated"
    components = ("grad_clip", "amp")
    category = Category.OPTIMIZATION
    layer = Layer.UPDATES
    description = "call the deprecated torch.nn.utils.clip_grad_norm instead of clip_grad_norm_"
    symptom = "FutureWarning: clip_grad_norm is now deprecated; breaks on a PyTorch upgrade"
    hint = "run with -W error::FutureWarning"
    fix = "use torch.nn.utils.clip_grad_norm_ (trailing underscore: it clips in place)"
    node_types = (cst.Call,)
    EXAMPLES = (
        Example(
            "torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n",
            "torch.nn.utils.clip_grad_norm(model.parameters(), 1.0)\n",
        ),
    )
    UNCHANGED = ("clip_grad_norm_(params, 1.0)\n", "torch.nn.utils.clip_grad_value_(params, 1.0)\n")

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        assert isinstance(node, cst.Call)
        if not m.matches(node.func, m.Attribute(attr=m.Name("clip_grad_norm_"))):
            return ()
        assert isinstance(node.func, cst.Attribute)
        return (node.with_changes(func=node.func.with_changes(attr=cst.Name("clip_grad_norm"))),)
