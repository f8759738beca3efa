from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._attention import (
    calls_in,
    first_arg_value,
    is_norm_call,
    mentions_name,
    replace_names,
    replace_nodes,
    residual_update,
)
from ._patterns import single_assignment


def _post_norm(stream: str, norm: cst.Call, branch: cst.BaseExpression) -> cst.SimpleStatementLine:
    """``stream = norm(stream + branch)``."""
    summed = cst.BinaryOperation(left=cst.Name(stream), operator=cst.Add(), right=branch)
    value = norm.with_changes(args=[norm.args[0].with_changes(value=summed)])
    return cst.SimpleStatementLine([cst.Assign(targets=[cst.AssignTarget(cst.Name(stream))], value=value)])


def _norm_of(expr: cst.CSTNode, stream: str) -> bool:
    if not isinstance(expr, cst.Call) or not is_norm_call(expr):
        return False
    return m.matches(first_arg_value(expr), m.Name(stream))


def _free_after(statements: Sequence[cst.BaseStatement], name: str) -> bool:
    """``name`` is not read in ``statements`` before it is bound again."""
    for statement in statements:
        bound = single_assignment(statement)
        if bound is not None and bound[0] == name and not mentions_name(bound[1], name):
            return True
        if mentions_name(statement, name):
            return False
    return True


class PostNormInsteadOfPreNorm(Mutator):
    """A pre-norm sub-layer is written post-norm: ``x + sub(norm(x))`` becomes ``norm(x + sub(x))``.

    Both layouts appear in papers and in ``nn.TransformerDecoderLayer`` (``norm_first``), so code
    copied from one into the other mixes them. A post-norm layer normalizes the residual stream
    itself: the identity path is gone, deep stacks need learning-rate warm-up and diverge without
    it, and weights trained for one layout produce garbage in the other. Sites: a residual update
    whose branch normalizes the stream inline (``x = x + f(norm(x))``), or a statement
    ``h = norm(x)`` followed by ``x = x + f(h)`` when ``h`` is not read again afterwards.
    """

    bug_id = "post_norm_instead_of_pre_norm"
    components = ("decoder", "llama_block")
    category = Category.SHAPES
    layer = Layer.SHAPES
    description = "normalize after the residual add (post-norm) where the contract is pre-norm"
    symptom = "training diverges or needs warm-up as layers are stacked; pre-norm checkpoints give garbage"
    hint = "the residual stream x itself should never pass through a norm inside the layer"
    fix = "x = x + sublayer(norm(x))"
    node_types = (cst.SimpleStatementLine, cst.IndentedBlock)
    EXAMPLES = (
        Example(
            "x = x + self.drop(self.ffn(self.norm3(x)))\n",
            "x = self.norm3(x + self.drop(self.ffn(x)))\n",
        ),
        Example("x += self.mlp(self.ln_2(x))\n", "x = self.ln_2(x + self.mlp(x))\n"),
        Example(
            "def f(x):\n    h = self.norm1(x)\n    x = x + self.attn(h, h, h)\n    return x\n",
            "def f(x):\n    x = self.norm1(x + self.attn(x, x, x))\n    return x\n",
        ),
    )
    UNCHANGED = (
        "x = self.norm(x + self.ffn(x))\n",
        "def f(x):\n    h = self.norm1(x)\n    x = x + self.attn(h, h, h)\n    return x, h\n",
        "x = x + self.ffn(y)\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.SimpleStatementLine):
            return self._inline(node)
        assert isinstance(node, cst.IndentedBlock)
        return self._two_statements(node)

    def _inline(self, line: cst.SimpleStatementLine) -> Sequence[Replacement]:
        if len(line.body) != 1:
            return ()
        found = residual_update(line.body[0])
        if found is None:
            return ()
        stream, branch = found
        norms = [c for c in calls_in(branch) if _norm_of(c, stream)]
        if len(norms) != 1:
            return ()
        (norm,) = norms
        unnormed = replace_nodes(branch, {id(norm): cst.Name(stream)})
        assert isinstance(unnormed, cst.BaseExpression)
        return (_post_norm(stream, norm, unnormed).with_changes(leading_lines=line.leading_lines),)

    def _two_statements(self, block: cst.IndentedBlock) -> Sequence[Replacement]:
        body = list(block.body)
        alternatives: list[Replacement] = []
        for i in range(len(body) - 1):
            bound = single_assignment(body[i])
            if bound is None:
                continue
            normalized, norm = bound
            if not isinstance(norm, cst.Call):
                continue
            update = body[i + 1]
            if not isinstance(update, cst.SimpleStatementLine) or len(update.body) != 1:
                continue
            found = residual_update(update.body[0])
            if found is None:
                continue
            stream, branch = found
            if not _norm_of(norm, stream) or normalized == stream or not mentions_name(branch, normalized):
                continue
            if not _free_after(body[i + 2 :], normalized):
                continue
            unnormed = replace_names(branch, normalized, cst.Name(stream))
            assert isinstance(unnormed, cst.BaseExpression)
            first = body[i]
            assert isinstance(first, cst.SimpleStatementLine)
            rewritten = _post_norm(stream, norm, unnormed).with_changes(leading_lines=first.leading_lines)
            alternatives.append(block.with_changes(body=[*body[:i], rewritten, *body[i + 2 :]]))
        return alternatives
