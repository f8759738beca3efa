from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
import libcst.matchers as m

from pytest_mlbugs.api import Category, Example, Layer, Mutator, Replacement

from ._llm import simple_value, squared_operand, upcast_receiver, with_value
from ._patterns import callee_name, dotted_name

#: reductions that lose precision in half precision, called on a tensor or as a function of it
_REDUCTIONS = (
    "log_softmax",
    "softmax",
    "cross_entropy",
    "logsumexp",
    "pow",
    "square",
    "mean",
    "norm",
    "_norm",
)
_MODULES = ("torch", "F", "nn.functional", "torch.nn.functional", "functional")


def _reduced_operand(call: cst.Call) -> cst.BaseExpression | None:
    """What a reduction acts on: ``x`` in ``F.log_softmax(x, -1)``, ``x.pow(2)``, ``self._norm(x)``."""
    name = callee_name(call)
    if name not in _REDUCTIONS:
        return None
    func = call.func
    if isinstance(func, cst.Attribute) and dotted_name(func.value) not in _MODULES and name != "_norm":
        return func.value
    if call.args and call.args[0].keyword is None and not call.args[0].star:
        return call.args[0].value
    return None


def _reads_reduced(statement: cst.CSTNode, name: str) -> bool:
    """Whether ``statement`` reduces the tensor ``name`` (``name.pow(2)``, ``torch.mean(name * name)``)."""
    for call in m.findall(statement, m.Call()):
        assert isinstance(call, cst.Call)
        operand = _reduced_operand(call)
        if operand is None:
            continue
        if m.matches(operand, m.Name(name)):
            return True
        squared = squared_operand(operand)
        if squared is not None and m.matches(squared, m.Name(name)):
            return True
    return False


def _is_boolean(expr: cst.BaseExpression) -> bool:
    """A comparison: ``(pred == y).float().mean()`` is an accuracy, a share of booleans with no
    half-precision values to lose; without ``.float()`` the mean only raises."""
    return isinstance(expr, (cst.Comparison, cst.UnaryOperation)) and not m.matches(
        expr, m.UnaryOperation(operator=m.Minus())
    )


class Float32UpcastDropped(Mutator):
    """A half-precision tensor is no longer upcast to float32 before a reduction.

    Norms and losses upcast first (``hidden_states.to(torch.float32)`` in Hugging Face's
    RMSNorm, ``x.float()`` in Llama's, ``logits.float()`` before a cross-entropy) because a sum of
    squares or a log-sum-exp over thousands of bfloat16 values keeps only 8 bits of each. Without
    the upcast everything still runs and float32 tests pass; in bfloat16 the result is a few
    steps off everywhere (training is noisier than it should be), float16 overflows on squares
    above 65504, and a loss comes back in half precision. Sites: an upcast that feeds a
    reduction, inline (``F.log_softmax(logits.float(), -1)``, ``self._norm(x.float())``) or
    assigned to a name that a later statement of the block reduces.
    """

    bug_id = "float32_upcast_dropped"
    components = ("rmsnorm", "lm_loss")
    category = Category.NUMERICS
    layer = Layer.NUMERICS
    description = (
        "no float32 upcast before a reduction over half-precision values (norm statistic, log-softmax)"
    )
    symptom = (
        "bf16/fp16 training is noisier than float32, overflows on large activations, or logs a bf16 loss"
    )
    hint = "print the dtype of the tensor entering the mean / log_softmax when the model runs in bfloat16"
    fix = "upcast first: x.float() (or x.to(torch.float32)), reduce, then cast the result back"
    node_types = (cst.Call, cst.IndentedBlock)
    EXAMPLES = (
        Example("output = self._norm(x.float()).type_as(x)\n", "output = self._norm(x).type_as(x)\n"),
        Example(
            "log_probs = F.log_softmax(shift_logits.float(), dim=-1)\n",
            "log_probs = F.log_softmax(shift_logits, dim=-1)\n",
        ),
        Example(
            "def forward(self, hidden_states):\n"
            "    input_dtype = hidden_states.dtype\n"
            "    hidden_states = hidden_states.to(torch.float32)\n"
            "    variance = hidden_states.pow(2).mean(-1, keepdim=True)\n"
            "    return hidden_states * torch.rsqrt(variance + self.eps)\n",
            "def forward(self, hidden_states):\n"
            "    input_dtype = hidden_states.dtype\n"
            "    hidden_states = hidden_states\n"
            "    variance = hidden_states.pow(2).mean(-1, keepdim=True)\n"
            "    return hidden_states * torch.rsqrt(variance + self.eps)\n",
        ),
        Example(
            "def forward(self, x):\n"
            "    x = x.float()\n"
            "    norm_x = torch.mean(x * x, dim=self.dim, keepdim=True)\n"
            "    return x * torch.rsqrt(norm_x + self.eps)\n",
            "def forward(self, x):\n"
            "    x = x\n"
            "    norm_x = torch.mean(x * x, dim=self.dim, keepdim=True)\n"
            "    return x * torch.rsqrt(norm_x + self.eps)\n",
        ),
    )
    UNCHANGED = (
        "freqs = torch.arange(0, dim, 2).float() / dim\n",
        "mask = mask.float()\n",
        "def f(x):\n    y = x.float()\n    return y + 1\n",
        "y = x.float() + 1\n",
        # an accuracy over booleans (Lightning's training_step)
        "acc = (logits.argmax(dim=1) == y).float().mean()\n",
    )

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement]:
        if isinstance(node, cst.Call):
            return self._inline(node)
        assert isinstance(node, cst.IndentedBlock)
        return self._assigned(node)

    def _inline(self, call: cst.Call) -> Sequence[Replacement]:
        operand = _reduced_operand(call)
        if operand is None:
            return ()
        receiver = upcast_receiver(operand)
        if receiver is None or _is_boolean(receiver):
            return ()
        func = call.func
        if isinstance(func, cst.Attribute) and func.value is operand:
            return (call.with_changes(func=func.with_changes(value=receiver)),)
        return (call.with_changes(args=[call.args[0].with_changes(value=receiver), *call.args[1:]]),)

    def _assigned(self, block: cst.IndentedBlock) -> Sequence[Replacement]:
        body = list(block.body)
        alternatives: list[Replacement] = []
        for index, statement in enumerate(body):
            found = simple_value(statement)
            if found is None or not isinstance(found[0], cst.Name):
                continue
            receiver = upcast_receiver(found[1])
            if (
                receiver is None
                or _is_boolean(receiver)
                or not any(_reads_reduced(later, found[0].value) for later in body[index + 1 :])
            ):
                continue
            assert isinstance(statement, cst.SimpleStatementLine)
            body_with = [*body[:index], with_value(statement, receiver), *body[index + 1 :]]
            alternatives.append(block.with_changes(body=body_with))
        return alternatives
