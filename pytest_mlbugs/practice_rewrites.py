"""Semantics-preserving surface rewrites: every practice seed gets a fresh-looking exercise.

:func:`rewrite` turns a component's source (the reference, or a variant with bugs written in)
into another spelling of the same program, chosen by a seed:

- comments go (they say what a line should do, so they would give a bug away);
- locals of every function are renamed from a table of synonyms (``scores`` may become
  ``logits`` or ``attn``), never to a name already in use;
- equivalent forms swap: ``x.transpose(-2, -1)`` and ``x.mT``, ``torch.matmul(a, b)`` and
  ``a @ b``, ``F.softmax(x, dim=d)`` and ``x.softmax(dim=d)``;
- the denominator of ``x = a / f(b)`` moves into a local of its own (``denom = f(b)``);
- two adjacent assignments that neither read each other's result nor call anything impure
  swap places;
- a module-private helper function (``def _name``) that only returns an expression and is
  called once is inlined at its call site, and the value of an assignment moves into a new
  module-private helper (``scale = _scale(d_k)``) defined above its function.

Every choice is keyed by the seed and the node's own text, not by its position, so the
reference and a variant of it get the same spelling everywhere but at the bugs: a diff between
the two rewritten sources shows exactly the bugs. Parameters, attributes, keywords and
module-level names are never renamed: they are the contract.
"""

from __future__ import annotations

import builtins
import keyword
from collections.abc import Iterable, Mapping, Sequence

import libcst as cst
import libcst.matchers as m
from libcst.metadata import BuiltinScope, FunctionScope, GlobalScope, MetadataWrapper, Scope, ScopeProvider

from pytest_mlbugs.runner import derive_seed

#: the synonyms a local may be renamed to; a name without an entry keeps its spelling
SYNONYMS: dict[str, tuple[str, ...]] = {
    "X": ("features", "inputs_matrix", "data"),
    "actual": ("truth", "observed"),
    "angles": ("phases", "arguments"),
    "batch": ("minibatch", "chunk", "bsz"),
    "batch_size": ("n_batch", "bsz", "rows"),
    "batches": ("minibatches", "chunks"),
    "best_loss": ("lowest_loss", "best_mean"),
    "best_state": ("best_weights", "snapshot", "best_checkpoint"),
    "checkpoint": ("state", "ckpt", "payload"),
    "classes": ("labels_seen", "class_ids"),
    "clip_coef": ("coef", "ratio", "factor"),
    "columns": ("span", "cols"),
    "context": ("attended", "mixed", "ctx"),
    "correct": ("hits", "n_correct", "num_right"),
    "cumulative": ("cum_probs", "running_mass"),
    "decay": ("with_decay", "decayed"),
    "div_term": ("freqs", "inv_freq", "frequencies"),
    "end": ("stop", "upto"),
    "epoch_loss": ("mean_loss", "avg_loss"),
    "epoch_losses": ("per_epoch", "history"),
    "exps": ("exp_x", "numerators", "e"),
    "f1": ("f_score", "score"),
    "finished": ("done", "ended"),
    "folder": ("directory", "parent_dir"),
    "grads": ("gradients", "grad_list"),
    "group": ("chunk", "micro_group"),
    "group_size": ("chunk_size", "n_in_group"),
    "groups": ("chunks", "param_groups_"),
    "handle": ("fd", "descriptor"),
    "inputs": ("xb", "features", "batch_inputs"),
    "keep": ("kept", "selected", "retain"),
    "kth_largest": ("threshold", "pivot", "cutoff"),
    "length": ("seq_len_", "n_steps", "steps"),
    "log_probs": ("logp", "log_p", "lsm"),
    "loss": ("batch_loss", "objective", "err"),
    "losses": ("loss_history", "history", "per_batch"),
    "mask": ("allowed", "keep_mask", "m"),
    "max_len": ("width", "longest"),
    "mean": ("mu", "avg", "center"),
    "name": ("param_name", "key_name", "n"),
    "new_len": ("end_pos", "updated_len", "total_len"),
    "next_token": ("new_token", "nxt"),
    "nll": ("neg_log_lik", "per_example"),
    "no_decay": ("without_decay", "exempt"),
    "norms": ("per_tensor", "norm_list"),
    "num_batches": ("n_batches", "steps", "batch_count"),
    "num_rows": ("n", "n_rows", "count"),
    "num_test": ("n_test", "test_size"),
    "ones": ("filled", "full"),
    "order": ("perm", "permutation", "idx"),
    "output": ("out", "result", "y_hat"),
    "outputs": ("logits_", "preds_", "out"),
    "outside": ("to_remove", "excluded", "dropped"),
    "padded": ("extended", "wrapped"),
    "param": ("p", "weight", "tensor"),
    "parameters": ("params", "tensors"),
    "pe": ("table", "encoding", "pos_table"),
    "peak": ("top", "m", "largest"),
    "position": ("pos", "positions", "t"),
    "precision": ("prec", "p_score"),
    "predicted": ("guesses", "pred", "y_pred"),
    "predicted_counts": ("pred_counts", "n_predicted"),
    "predictions": ("preds", "guesses", "pred"),
    "present": ("seen_classes", "active"),
    "probs": ("probabilities", "dist"),
    "progress": ("fraction", "decay_ratio"),
    "q": ("queries", "qh", "q_heads"),
    "k": ("keys", "kh", "k_heads"),
    "v": ("vals", "vh", "v_heads"),
    "q_len": ("tq", "n_queries", "len_q"),
    "recall": ("rec", "r_score"),
    "safe_targets": ("clamped", "valid_targets", "idx"),
    "scale": ("factor", "inv_std", "scaling"),
    "scores": ("logits", "attn", "sim"),
    "seen": ("visited", "count_so_far"),
    "shape": ("dims", "size"),
    "sorted_indices": ("sort_idx", "ranking"),
    "sorted_logits": ("ordered_logits", "logits_desc"),
    "start": ("begin", "offset", "pos0"),
    "std": ("sigma", "spread", "stdev"),
    "summed": ("total_exp", "acc"),
    "supports": ("support", "counts"),
    "targets": ("labels_", "yb", "y_true"),
    "tmp_path": ("temp_path", "staging_path", "partial_path"),
    "tokens": ("generated", "sequence_ids"),
    "total": ("count", "n_total", "seen_examples"),
    "total_loss": ("running_loss", "loss_sum", "cum_loss"),
    "total_norm": ("norm", "global_norm", "grad_norm"),
    "true_positives": ("tp", "hits"),
    "valid": ("kept", "usable", "active"),
    "var": ("variance", "sigma2", "spread2"),
    "was_training": ("prev_mode", "training_before", "mode_before"),
    "weights": ("probs", "attn_weights", "p_attn"),
    "x_hat": ("normed", "z", "standardized"),
    "y": ("target_rows", "labels_"),
}

#: methods and functions that neither consume randomness nor change state
_PURE_CALLS = frozenset(
    {
        "math.sqrt", "math.log", "math.exp", "torch.matmul", "torch.exp", "torch.log", "torch.sqrt",
        "torch.arange", "torch.zeros", "torch.ones", "torch.tensor", "torch.where", "float", "int",
        "len", "abs", "min", "max", "transpose", "view", "reshape", "contiguous", "sum", "mean",
        "amax", "size", "unsqueeze", "squeeze", "masked_fill", "softmax", "clone", "clamp",
        "self.q_proj", "self.k_proj", "self.v_proj", "self.out_proj", "self._split_heads",
    }
)  # fmt: skip

#: how often a rule fires at a site, in 1/256ths
_RENAME_RATE = 200
_FORM_RATE = 128
_SWAP_RATE = 128
_EXTRACT_RATE = 128
_INLINE_RATE = 128
_HELPER_RATE = 40
#: the most parameters an extracted helper takes
_HELPER_MAX_PARAMS = 3

#: names for an extracted denominator; none is spelled in a reference
_DENOMINATOR_NAMES = ("denom", "divisor", "denominator", "norm_const")


def rewrite(source: str, *, seed: int, keep_docstrings: bool = True, avoid: Iterable[str] = ()) -> str:
    """Another spelling of ``source``, the same program; identical for the same seed.

    ``avoid`` adds names that renamed locals must not take (the names of a second source that
    is rewritten with the same seed, so that both get one renaming).
    """
    module = cst.parse_module(source)
    module = module.visit(_StripComments(keep_docstrings=keep_docstrings))
    module = module.visit(_EquivalentForms(seed, module))
    module = module.visit(_ExtractDenominators(seed, module))
    module = module.visit(_SwapIndependentAssignments(seed, module))
    module = _inline_helpers(module, seed=seed)
    module = _extract_helpers(module, seed=seed, avoid=set(avoid))
    module = _rename_locals(module, seed=seed, avoid=set(avoid))
    return module.code


def identifiers(source: str | cst.Module) -> set[str]:
    """Every name spelled in ``source``."""
    module = cst.parse_module(source) if isinstance(source, str) else source
    found: set[str] = set()

    class Collect(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            found.add(node.value)

    module.visit(Collect())
    return found


def _fires(seed: int, rule: str, text: str, rate: int) -> bool:
    return derive_seed(seed, rule, text) % 256 < rate


# ---------------------------------------------------------------------------------------------
# comments and docstrings


def _is_docstring(statement: cst.CSTNode) -> bool:
    return m.matches(
        statement,
        m.SimpleStatementLine(body=[m.Expr(value=m.SimpleString() | m.ConcatenatedString())]),
    )


class _StripComments(cst.CSTTransformer):
    def __init__(self, *, keep_docstrings: bool) -> None:
        super().__init__()
        self.keep_docstrings = keep_docstrings

    def leave_EmptyLine(
        self, original_node: cst.EmptyLine, updated_node: cst.EmptyLine
    ) -> cst.EmptyLine | cst.RemovalSentinel:
        return cst.RemoveFromParent() if updated_node.comment is not None else updated_node

    def leave_TrailingWhitespace(
        self, original_node: cst.TrailingWhitespace, updated_node: cst.TrailingWhitespace
    ) -> cst.TrailingWhitespace:
        if updated_node.comment is None:
            return updated_node
        return updated_node.with_changes(comment=None, whitespace=cst.SimpleWhitespace(""))

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        body = list(updated_node.body)
        if body and _is_docstring(body[0]):  # the exercise writes its own header
            body = body[1:]
            if body:
                body[0] = body[0].with_changes(leading_lines=())
        return updated_node.with_changes(body=body, header=())

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        body = list(updated_node.body)
        if self.keep_docstrings or not body or not _is_docstring(body[0]):
            return updated_node
        rest = body[1:] or [cst.SimpleStatementLine([cst.Pass()])]
        rest[0] = rest[0].with_changes(leading_lines=())
        return updated_node.with_changes(body=rest)


# ---------------------------------------------------------------------------------------------
# equivalent forms


def _needs_parens(node: cst.BaseExpression) -> bool:
    return not isinstance(
        node, (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float)
    ) and not (node.lpar and node.rpar)


def _parenthesized(node: cst.BaseExpression) -> cst.BaseExpression:
    if _needs_parens(node):
        return node.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return node


def _int_value(node: cst.BaseExpression) -> int | None:
    if isinstance(node, cst.Integer):
        return int(node.value)
    if m.matches(node, m.UnaryOperation(operator=m.Minus(), expression=m.Integer())):
        assert isinstance(node, cst.UnaryOperation) and isinstance(node.expression, cst.Integer)
        return -int(node.expression.value)
    return None


def _is_last_two_axes(args: Sequence[cst.Arg]) -> bool:
    if len(args) != 2 or any(a.keyword is not None or a.star for a in args):
        return False
    return {_int_value(args[0].value), _int_value(args[1].value)} == {-2, -1}


class _EquivalentForms(cst.CSTTransformer):
    def __init__(self, seed: int, module: cst.Module) -> None:
        super().__init__()
        self.seed = seed
        self.module = module
        self.torch_imported = "torch" in _imported_names(module)

    def _fires(self, rule: str, node: cst.CSTNode) -> bool:
        return _fires(self.seed, rule, self.module.code_for_node(node), _FORM_RATE)

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = updated_node.func
        args = updated_node.args
        # x.transpose(-2, -1) -> x.mT (a batch of matrices, each transposed)
        if (
            m.matches(func, m.Attribute(attr=m.Name("transpose")))
            and _is_last_two_axes(args)
            and self._fires("mT", original_node)
        ):
            assert isinstance(func, cst.Attribute)
            return cst.Attribute(value=_parenthesized(func.value), attr=cst.Name("mT"))
        # torch.matmul(a, b) -> a @ b
        if (
            m.matches(func, m.Attribute(value=m.Name("torch"), attr=m.Name("matmul")))
            and len(args) == 2
            and all(a.keyword is None and not a.star for a in args)
            and self._fires("matmul", original_node)
        ):
            product = cst.BinaryOperation(
                left=_parenthesized(args[0].value),
                operator=cst.MatrixMultiply(),
                right=_parenthesized(args[1].value),
            )
            # a call binds tighter than any operator: keep the product in parentheses, except
            # where it stands alone (see _drop_redundant_parens)
            return product.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        # F.softmax(x, dim=d) -> x.softmax(dim=d)
        if (
            m.matches(func, m.Attribute(value=m.Name("F"), attr=m.Name("softmax") | m.Name("log_softmax")))
            and len(args) == 2
            and args[0].keyword is None
            and not args[0].star
            and args[1].keyword is not None
            and args[1].keyword.value == "dim"
            and self._fires("softmax-method", original_node)
        ):
            assert isinstance(func, cst.Attribute)
            return cst.Call(
                func=cst.Attribute(value=_parenthesized(args[0].value), attr=func.attr),
                args=[args[1]],
                lpar=updated_node.lpar,
                rpar=updated_node.rpar,
            )
        return updated_node

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        return updated_node.with_changes(value=_drop_redundant_parens(updated_node.value))

    def leave_Return(self, original_node: cst.Return, updated_node: cst.Return) -> cst.Return:
        if updated_node.value is None:
            return updated_node
        return updated_node.with_changes(value=_drop_redundant_parens(updated_node.value))

    def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg) -> cst.Arg:
        return updated_node.with_changes(value=_drop_redundant_parens(updated_node.value))

    def leave_Attribute(
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.BaseExpression:
        # x.mT -> x.transpose(-2, -1), the other way round
        if updated_node.attr.value == "mT" and self._fires("transpose", original_node):
            return cst.Call(
                func=cst.Attribute(value=updated_node.value, attr=cst.Name("transpose")),
                args=[cst.Arg(cst.parse_expression("-2")), cst.Arg(cst.parse_expression("-1"))],
            )
        return updated_node

    def leave_BinaryOperation(
        self, original_node: cst.BinaryOperation, updated_node: cst.BinaryOperation
    ) -> cst.BaseExpression:
        # a @ b -> torch.matmul(a, b)
        if (
            isinstance(updated_node.operator, cst.MatrixMultiply)
            and self.torch_imported
            and self._fires("matmul-call", original_node)
        ):
            return cst.Call(
                func=cst.parse_expression("torch.matmul"),
                args=[
                    cst.Arg(updated_node.left.with_changes(lpar=[], rpar=[])),
                    cst.Arg(updated_node.right.with_changes(lpar=[], rpar=[])),
                ],
                lpar=updated_node.lpar,
                rpar=updated_node.rpar,
            )
        return updated_node


def _drop_redundant_parens(node: cst.BaseExpression) -> cst.BaseExpression:
    """``x = (a @ b)`` reads as ``x = a @ b``: a whole value needs no parentheses."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.MatrixMultiply):
        if len(node.lpar) == 1 and len(node.rpar) == 1:
            return node.with_changes(lpar=[], rpar=[])
    return node


def _imported_names(module: cst.Module) -> set[str]:
    names: set[str] = set()
    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Import):
                for alias in small.names:
                    bound = alias.asname.name if alias.asname else alias.name
                    if isinstance(bound, cst.Name):
                        names.add(bound.value)
                    elif isinstance(bound, cst.Attribute):
                        names.add(cst.Module([]).code_for_node(bound).split(".")[0])
    return names


# ---------------------------------------------------------------------------------------------
# independent statements


def _dotted(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        inner = _dotted(node.value)
        return None if inner is None else f"{inner}.{node.attr.value}"
    return None


class _Reads(cst.CSTVisitor):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.pure = True

    def visit_Name(self, node: cst.Name) -> None:
        self.names.add(node.value)

    def visit_Call(self, node: cst.Call) -> None:
        dotted = _dotted(node.func)
        method = node.func.attr.value if isinstance(node.func, cst.Attribute) else None
        if dotted not in _PURE_CALLS and (method is None or method not in _PURE_CALLS):
            self.pure = False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        self.pure = False
        return False

    def visit_NamedExpr(self, node: cst.NamedExpr) -> bool:
        self.pure = False
        return False


def _simple_assignment(statement: cst.BaseStatement) -> tuple[str, _Reads] | None:
    """``name = <pure expression>``: its target and what it reads, else ``None``."""
    if not m.matches(statement, m.SimpleStatementLine(body=[m.Assign(targets=[m.AssignTarget(m.Name())])])):
        return None
    assert isinstance(statement, cst.SimpleStatementLine)
    assign = statement.body[0]
    assert isinstance(assign, cst.Assign)
    target = assign.targets[0].target
    assert isinstance(target, cst.Name)
    reads = _Reads()
    assign.value.visit(reads)
    return (target.value, reads) if reads.pure else None


class _SwapIndependentAssignments(cst.CSTTransformer):
    def __init__(self, seed: int, module: cst.Module) -> None:
        super().__init__()
        self.seed = seed
        self.module = module

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        body = list(updated_node.body)
        index = 0
        while index + 1 < len(body):
            first, second = body[index], body[index + 1]
            a, b = _simple_assignment(first), _simple_assignment(second)
            if (
                a is None
                or b is None
                or not isinstance(first, cst.SimpleStatementLine)
                or not isinstance(second, cst.SimpleStatementLine)
            ):
                index += 1
                continue
            independent = (
                a[0] != b[0]
                and a[0] not in b[1].names
                and b[0] not in a[1].names
                and not second.leading_lines  # a blank line separates steps: keep it
            )
            text = self.module.code_for_node(first) + self.module.code_for_node(second)
            if independent and _fires(self.seed, "swap", text, _SWAP_RATE):
                body[index] = second.with_changes(leading_lines=first.leading_lines)
                body[index + 1] = first.with_changes(leading_lines=())
                index += 2
            else:
                index += 1
        return updated_node.with_changes(body=body)


class _ExtractDenominators(cst.CSTTransformer):
    """``x = a / f(b)`` -> ``denom = f(b)`` then ``x = a / denom``, for a pure call ``f``.

    Computing the pure denominator before the numerator changes nothing observable.
    """

    def __init__(self, seed: int, module: cst.Module) -> None:
        super().__init__()
        self.seed = seed
        self.module = module
        self.taken = identifiers(module)

    def _extracted(
        self, statement: cst.BaseStatement
    ) -> tuple[cst.SimpleStatementLine, cst.SimpleStatementLine] | None:
        if not isinstance(statement, cst.SimpleStatementLine) or _simple_assignment(statement) is None:
            return None
        assign = statement.body[0]
        assert isinstance(assign, cst.Assign)
        value = assign.value
        if not (
            isinstance(value, cst.BinaryOperation)
            and isinstance(value.operator, cst.Divide)
            and isinstance(value.right, cst.Call)
            and not value.right.lpar
        ):
            return None
        text = self.module.code_for_node(statement)
        if not _fires(self.seed, "extract", text, _EXTRACT_RATE):
            return None
        free = [name for name in _DENOMINATOR_NAMES if name not in self.taken]
        if not free:
            return None
        name = free[derive_seed(self.seed, "extract-name", text) % len(free)]
        self.taken.add(name)
        first = cst.SimpleStatementLine(
            body=[cst.Assign(targets=[cst.AssignTarget(cst.Name(name))], value=value.right)],
            leading_lines=statement.leading_lines,
        )
        second = statement.with_changes(
            body=[assign.with_changes(value=value.with_changes(right=cst.Name(name)))], leading_lines=()
        )
        return first, second

    def leave_IndentedBlock(
        self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        body: list[cst.BaseStatement] = []
        for statement in updated_node.body:
            extracted = self._extracted(statement)
            body.extend(extracted if extracted is not None else (statement,))
        return updated_node.with_changes(body=body)


# ---------------------------------------------------------------------------------------------
# helper functions inlined or extracted


def _scopes(wrapper: MetadataWrapper) -> dict[cst.CSTNode, Scope | None]:
    return dict(wrapper.resolve(ScopeProvider))


def _is_global(scope: Scope | None, name: str) -> bool | None:
    """Whether ``name`` read in ``scope`` is a module-level or builtin name (``None``: unknown)."""
    if scope is None:
        return None
    assignments = scope[name]
    if not assignments:
        return None
    return all(isinstance(a.scope, (GlobalScope, BuiltinScope)) for a in assignments)


_SCOPED = (
    cst.Lambda,
    cst.NamedExpr,
    cst.ListComp,
    cst.SetComp,
    cst.DictComp,
    cst.GeneratorExp,
    cst.Yield,
    cst.Await,
)


def _has_own_scope(node: cst.CSTNode) -> bool:
    found = False

    class Find(cst.CSTVisitor):
        def on_visit(self, node: cst.CSTNode) -> bool:
            nonlocal found
            if isinstance(node, _SCOPED) or (
                isinstance(node, cst.Name) and node.value in ("super", "__class__")
            ):
                found = True
            return not found

    node.visit(Find())
    return found


def _only_returns(function: cst.FunctionDef) -> cst.BaseExpression | None:
    """The expression of a function whose body (past its docstring) is ``return <expr>``."""
    if not isinstance(function.body, cst.IndentedBlock):
        return None
    body = list(function.body.body)
    if body and _is_docstring(body[0]):
        body = body[1:]
    if len(body) != 1 or not m.matches(body[0], m.SimpleStatementLine(body=[m.Return()])):
        return None
    statement = body[0]
    assert isinstance(statement, cst.SimpleStatementLine) and isinstance(statement.body[0], cst.Return)
    return statement.body[0].value


def _plain_params(function: cst.FunctionDef) -> list[str] | None:
    params = function.params
    if params.star_arg is not cst.MaybeSentinel.DEFAULT or params.kwonly_params or params.star_kwarg:
        return None
    if params.posonly_params or any(p.default is not None for p in params.params):
        return None
    return [p.name.value for p in params.params]


def _inline_helpers(module: cst.Module, *, seed: int) -> cst.Module:
    """``_helper(a, b)`` -> the helper's returned expression with its parameters replaced, for a
    module-private helper called exactly once with plain names or attributes as arguments."""
    wrapper = MetadataWrapper(module)
    scopes = _scopes(wrapper)
    tree = wrapper.module
    global_scope = scopes.get(tree)
    if not isinstance(global_scope, GlobalScope):
        return module
    replace: dict[cst.CSTNode, cst.BaseExpression] = {}
    remove: set[cst.CSTNode] = set()
    for statement in tree.body:
        if not isinstance(statement, cst.FunctionDef) or statement.decorators:
            continue
        name = statement.name.value
        expression = _only_returns(statement)
        params = _plain_params(statement)
        if not name.startswith("_") or expression is None or params is None or _has_own_scope(expression):
            continue
        uses = [access.node for a in global_scope[name] for access in a.references]
        if len(uses) != 1 or len(global_scope[name]) != 1:
            continue
        call = next((n for n in _calls(tree) if n.func is uses[0]), None)
        if call is None or len(call.args) != len(params):
            continue
        arguments = [a.value for a in call.args]
        if any(a.keyword is not None or a.star for a in call.args) or any(
            _dotted(v) is None for v in arguments
        ):
            continue
        # the helper's own global names must mean the same at the call site
        inner = _free_names(expression) - set(params)
        if not all(_is_global(scopes.get(uses[0]), g) for g in inner):
            continue
        text = tree.code_for_node(statement) + tree.code_for_node(call)
        if not _fires(seed, "inline", text, _INLINE_RATE):
            continue
        body_scope = next((scopes.get(n) for n in _names_in(expression)), None)
        if body_scope is None:
            continue
        by_param = dict(zip(params, arguments, strict=True))
        substitutions: dict[cst.CSTNode, cst.BaseExpression] = {
            access.node: by_param[param]
            for param in params
            for a in body_scope[param]
            for access in a.references
        }
        replace[call] = _parenthesized(_Substitute(substitutions).substitute(expression))
        remove.add(statement)
    if not replace:
        return module

    class Inline(cst.CSTTransformer):
        def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
            return replace.get(original_node, updated_node)

        def leave_FunctionDef(
            self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef
        ) -> cst.FunctionDef | cst.RemovalSentinel:
            return cst.RemoveFromParent() if original_node in remove else updated_node

    return tree.visit(Inline())


class _Substitute(cst.CSTTransformer):
    def __init__(self, substitutions: Mapping[cst.CSTNode, cst.BaseExpression]) -> None:
        super().__init__()
        self.substitutions = substitutions

    def substitute(self, expression: cst.BaseExpression) -> cst.BaseExpression:
        result = expression.visit(self)
        assert isinstance(result, cst.BaseExpression)
        return result

    def on_leave(  # type: ignore[override]
        self, original_node: cst.CSTNode, updated_node: cst.CSTNode
    ) -> cst.CSTNode:
        return self.substitutions.get(original_node, updated_node)


def _calls(tree: cst.CSTNode) -> list[cst.Call]:
    found: list[cst.Call] = []

    class Collect(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            found.append(node)

    tree.visit(Collect())
    return found


def _names_in(expression: cst.CSTNode) -> list[cst.Name]:
    found: list[cst.Name] = []

    class Collect(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            found.append(node)

    expression.visit(Collect())
    return found


def _free_names(expression: cst.BaseExpression) -> set[str]:
    """The names an expression reads (not attribute names, not keywords)."""
    return {node.value for node in _loads(expression)}


def _loads(node: cst.CSTNode) -> list[cst.Name]:
    if isinstance(node, cst.Name):
        return [node]
    if isinstance(node, cst.Attribute):
        return _loads(node.value)
    if isinstance(node, cst.Arg):
        return _loads(node.value)
    return [name for child in node.children for name in _loads(child)]


class _HelperCandidate:
    """An assignment whose value can move into a module-level helper: its parameters (a local
    name, or an attribute of one read as a value) in order of first use."""

    def __init__(self, value: cst.BaseExpression, scope: Scope) -> None:
        self.params: dict[str, cst.BaseExpression] = {}
        self.hoisted: dict[cst.CSTNode, str] = {}
        self.ok = True
        self._walk(value, scope, is_callee=False)
        if self.ok:
            self.ok = 0 < len(self.params) <= _HELPER_MAX_PARAMS and "self" not in self.params

    def _param(self, name: str, expression: cst.BaseExpression) -> None:
        known = self.params.get(name)
        if known is not None and not known.deep_equals(expression):
            self.ok = False
        self.params[name] = expression

    def _walk(self, node: cst.CSTNode, scope: Scope, *, is_callee: bool) -> None:
        if not self.ok:
            return
        if isinstance(node, cst.Name):
            is_global = _is_global(scope, node.value)
            if is_global is None:
                self.ok = False
            elif not is_global:
                self._param(node.value, node)
            return
        if isinstance(node, cst.Attribute):
            root = _dotted(node)
            base = root.split(".")[0] if root else None
            if root is not None and base is not None and not is_callee and _is_global(scope, base) is False:
                self.hoisted[node] = node.attr.value
                self._param(node.attr.value, node)
                return
            self._walk(node.value, scope, is_callee=False)
            return
        if isinstance(node, cst.Call):
            self._walk(node.func, scope, is_callee=True)
            for arg in node.args:
                self._walk(arg.value, scope, is_callee=False)
            return
        for child in node.children:
            self._walk(child, scope, is_callee=False)


def _extract_helpers(module: cst.Module, *, seed: int, avoid: set[str]) -> cst.Module:
    """``x = <expr>`` in a function -> ``x = _x(a, b)`` and ``def _x(a, b): return <expr>``
    above the function's top-level statement, for an expression without scopes of its own."""
    wrapper = MetadataWrapper(module)
    scopes = _scopes(wrapper)
    tree = wrapper.module
    taken = identifiers(tree) | avoid
    calls: dict[cst.CSTNode, cst.BaseExpression] = {}
    helpers: dict[cst.CSTNode, list[cst.FunctionDef]] = {}
    for top in tree.body:
        if not isinstance(top, (cst.FunctionDef, cst.ClassDef)):
            continue
        for statement in _assignments_in_functions(top):
            assign = statement.body[0]
            assert isinstance(assign, cst.Assign)
            target = assign.targets[0].target
            value = assign.value
            if not isinstance(target, cst.Name) or not isinstance(value, (cst.BinaryOperation, cst.Call)):
                continue
            if isinstance(value, cst.Call) and isinstance(value.func, cst.Name):
                continue  # a helper that only wraps one call of a function reads as padding
            scope = scopes.get(value) or scopes.get(target)
            if scope is None or _has_own_scope(value):
                continue
            text = tree.code_for_node(statement)
            if not _fires(seed, "helper", text, _HELPER_RATE):
                continue
            candidate = _HelperCandidate(value, scope)
            name = next((n for n in (f"_{target.value}", f"_compute_{target.value}") if n not in taken), None)
            if not candidate.ok or name is None:
                continue
            if set(candidate.params) & {g for g in _free_names(value) if _is_global(scope, g)}:
                continue  # a hoisted attribute's parameter would hide a global the helper reads
            taken.add(name)
            body = _Substitute(
                {node: cst.Name(param) for node, param in candidate.hoisted.items()}
            ).substitute(value)
            helper = cst.FunctionDef(
                name=cst.Name(name),
                params=cst.Parameters([cst.Param(cst.Name(p)) for p in candidate.params]),
                body=cst.IndentedBlock([cst.SimpleStatementLine([cst.Return(body)])]),
            )
            helpers.setdefault(top, []).append(helper)
            calls[value] = cst.Call(
                func=cst.Name(name), args=[cst.Arg(expression) for expression in candidate.params.values()]
            )
    if not calls:
        return module

    class Extract(cst.CSTTransformer):
        def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
            return calls.get(original_node, updated_node)

        def leave_BinaryOperation(
            self, original_node: cst.BinaryOperation, updated_node: cst.BinaryOperation
        ) -> cst.BaseExpression:
            return calls.get(original_node, updated_node)

        def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
            body: list[cst.BaseStatement] = []
            for original, statement in zip(original_node.body, updated_node.body, strict=True):
                added = helpers.get(original, [])
                for number, helper in enumerate(added):
                    blank = statement.leading_lines if number == 0 else (cst.EmptyLine(), cst.EmptyLine())
                    body.append(helper.with_changes(leading_lines=blank))
                if added:
                    statement = statement.with_changes(leading_lines=(cst.EmptyLine(), cst.EmptyLine()))
                body.append(statement)
            return updated_node.with_changes(body=body)

    return tree.visit(Extract())


def _assignments_in_functions(top: cst.CSTNode) -> list[cst.SimpleStatementLine]:
    """``name = value`` statements inside the functions of ``top``, in source order."""
    found: list[cst.SimpleStatementLine] = []

    class Collect(cst.CSTVisitor):
        def __init__(self) -> None:
            super().__init__()
            self.depth = 0

        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            self.depth += 1

        def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
            self.depth -= 1

        def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
            if self.depth and m.matches(
                node, m.SimpleStatementLine(body=[m.Assign(targets=[m.AssignTarget()])])
            ):
                found.append(node)

    top.visit(Collect())
    return found


# ---------------------------------------------------------------------------------------------
# renamed locals


def qualified_function_names(module: cst.Module) -> dict[int, str]:
    """``id()`` of every function node -> its qualified name (``Class.method``, ``outer.inner``)."""
    names: dict[int, str] = {}

    class Walk(cst.CSTVisitor):
        def __init__(self) -> None:
            super().__init__()
            self.stack: list[str] = []

        def visit_ClassDef(self, node: cst.ClassDef) -> None:
            self.stack.append(node.name.value)

        def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
            self.stack.pop()

        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            self.stack.append(node.name.value)
            names[id(node)] = ".".join(self.stack)

        def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
            self.stack.pop()

    module.visit(Walk())
    return names


def _rename_locals(module: cst.Module, *, seed: int, avoid: set[str]) -> cst.Module:
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)  # every node is fresh from a parse
    scopes = {s for s in wrapper.resolve(ScopeProvider).values() if isinstance(s, FunctionScope)}
    functions = qualified_function_names(wrapper.module)
    taken = identifiers(wrapper.module) | avoid | set(dir(builtins)) | set(keyword.kwlist)
    renamed: dict[int, str] = {}  # id(Name node) -> new spelling
    for scope in sorted(scopes, key=lambda s: functions.get(id(s.node), "")):
        qualname = functions.get(id(scope.node))
        if qualname is None:  # a lambda
            continue
        for name in sorted({a.name for a in scope.assignments}):
            candidates = SYNONYMS.get(name)
            assignments = list(scope.assignments[name])
            if not candidates or not all(isinstance(getattr(a, "node", None), cst.Name) for a in assignments):
                continue  # parameters, imports, names bound by nested defs keep their names
            choice = derive_seed(seed, "rename", qualname, name)
            if choice % 256 >= _RENAME_RATE:
                continue
            free = [c for c in candidates if c not in taken]
            if not free:
                continue
            new = free[(choice >> 8) % len(free)]
            taken.add(new)
            for assignment in assignments:
                renamed[id(getattr(assignment, "node", None))] = new
                for access in assignment.references:
                    renamed[id(access.node)] = new

    class Rename(cst.CSTTransformer):
        def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.Name:
            new = renamed.get(id(original_node))
            return updated_node if new is None else updated_node.with_changes(value=new)

    return wrapper.module.visit(Rename())
