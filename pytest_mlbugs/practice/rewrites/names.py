"""Locals of every function renamed from a table of synonyms, never to a name in use."""

from __future__ import annotations

import builtins
import keyword

import libcst as cst
from libcst.metadata import FunctionScope, MetadataWrapper, ScopeProvider

from pytest_mlbugs.practice.rewrites.syntax import identifiers
from pytest_mlbugs.seeds import derive_seed

#: how often a local is renamed, in 1/256ths
RENAME_RATE = 200

#: the synonyms a local may be renamed to; a name without an entry keeps its spelling
SYNONYMS: dict[str, tuple[str, ...]] = {
    "X": ("features", "inputs_matrix", "data"),
    "actual": ("truth", "observed"),
    "angles": ("phases", "arguments"),
    "attended": ("attn_out", "h_attn", "attention_output"),
    "batch": ("minibatch", "chunk", "bsz"),
    "batch_size": ("n_batch", "bsz", "rows"),
    "batches": ("minibatches", "chunks"),
    "best_loss": ("lowest_loss", "best_mean"),
    "best_state": ("best_weights", "snapshot", "best_checkpoint"),
    "causal": ("visible", "allowed_keys", "keep_keys"),
    "checkpoint": ("state", "ckpt", "payload"),
    "classes": ("labels_seen", "class_ids"),
    "clip_coef": ("coef", "ratio", "factor"),
    "columns": ("span", "cols"),
    "context": ("attended", "mixed", "ctx"),
    "correct": ("hits", "n_correct", "num_right"),
    "counted": ("is_target", "kept_tokens", "has_label"),
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
    "inv_freq": ("frequencies", "theta", "freqs_"),
    "k": ("keys", "kh", "k_heads"),
    "keep": ("kept", "selected", "retain"),
    "kth_largest": ("threshold", "pivot", "cutoff"),
    "length": ("seq_len_", "n_steps", "steps"),
    "log_probs": ("logp", "log_p", "lsm"),
    "loss": ("batch_loss", "objective", "err"),
    "losses": ("loss_history", "history", "per_batch"),
    "mask": ("allowed", "keep_mask", "m"),
    "max_len": ("width", "longest"),
    "mean": ("mu", "avg", "center"),
    "mean_square": ("ms", "sq_mean", "variance"),
    "name": ("param_name", "key_name", "n"),
    "new_kv": ("present", "cache_out", "kv_out"),
    "new_len": ("end_pos", "updated_len", "total_len"),
    "new_past_kv": ("present", "next_cache", "kv_out"),
    "next_token": ("new_token", "nxt"),
    "nll": ("neg_log_lik", "per_example"),
    "no_decay": ("without_decay", "exempt"),
    "normed": ("x_normed", "unit_rms", "scaled"),
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
    "past_len": ("n_cached", "cache_len", "offset"),
    "pe": ("table", "encoding", "pos_table"),
    "peak": ("top", "m", "largest"),
    "position": ("pos", "positions", "t"),
    "positions": ("pos_ids", "steps", "idx"),
    "precision": ("prec", "p_score"),
    "predicted": ("guesses", "pred", "y_pred"),
    "predicted_counts": ("pred_counts", "n_predicted"),
    "predictions": ("preds", "guesses", "pred"),
    "present": ("seen_classes", "active"),
    "probs": ("probabilities", "dist"),
    "progress": ("fraction", "decay_ratio"),
    "q": ("queries", "qh", "q_heads"),
    "q_len": ("tq", "n_queries", "len_q"),
    "recall": ("rec", "r_score"),
    "safe_labels": ("gather_idx", "clamped_labels", "index"),
    "safe_targets": ("clamped", "valid_targets", "idx"),
    "scale": ("factor", "inv_std", "scaling"),
    "scores": ("logits", "attn", "sim"),
    "seen": ("visited", "count_so_far"),
    "seq_len": ("n_tokens", "t_len", "num_pos"),
    "shape": ("dims", "size"),
    "shift_labels": ("next_tokens", "targets_next", "y_next"),
    "shift_logits": ("preds", "logits_next", "pred_logits"),
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
    "upcast": ("x_fp32", "wide", "h32"),
    "v": ("vals", "vh", "v_heads"),
    "valid": ("kept", "usable", "active"),
    "var": ("variance", "sigma2", "spread2"),
    "was_training": ("prev_mode", "training_before", "mode_before"),
    "weights": ("probs", "attn_weights", "p_attn"),
    "x_hat": ("normed", "z", "standardized"),
    "y": ("target_rows", "labels_"),
}


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


def rename_locals(module: cst.Module, *, seed: int, avoid: set[str]) -> cst.Module:
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
            if choice % 256 >= RENAME_RATE:
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
