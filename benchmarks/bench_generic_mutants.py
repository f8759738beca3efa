"""Mutants nobody here wrote: mutmut 3's generic operators on every reference, judged by the suites.

Our own mutators are written with the suites in mind; a generic tool's mutants are not (numbers
off by one, comparisons flipped, arguments dropped or set to ``None``, defaults changed,
``break``/``continue`` swapped, ...). This benchmark applies mutmut 3's own operator functions
(``mutmut.mutation.mutators.mutation_operators``, through its own ``MutationVisitor``, so a
``# pragma: no mutate`` is honoured as mutmut honours it) to every reference of the built-in
catalogue, and judges each mutant the way ``--mlbugs-impl`` judges a user's file: every
property of the component's suite, with ``--mlbugs-impl``'s number of examples (no shrinking:
nobody reads these counterexamples), each mutant in a forked child under a time limit.

mutmut is never a dependency of pytest-mlbugs: the mutants are made by the interpreter given
with ``--mutmut-python`` (a venv with ``pip install 'mutmut>=3,<4'``), as in
``bench_target.py``; only their source text comes back.

A mutant is

- killed by a property when some property of the suite fails on it with an ``AssertionError``
  (a check saw wrong behaviour: ``assert`` and ``torch.testing.assert_close`` both raise one);
- killed by a crash when no property fails that way but the mutant raised something else
  (a ``TypeError`` from ``None`` passed where a tensor belongs, a shape error, ...);
- survived when every property holds; a survivor is either listed in :data:`EQUIVALENT` with
  the reason no correct test can tell it from the reference under the contract, or it is a
  miss that the suites should kill;
- a timeout or an error when it gives no verdict in time, cannot be imported, or breaks the
  harness (never counted as killed).

    python benchmarks/bench_generic_mutants.py --mutmut-python /tmp/mmvenv/bin/python
    python benchmarks/bench_generic_mutants.py --mutmut-python ... --components training,data --jobs 1

The last line reads ``generic mutants: N mutants, K killed (P by a property, C by a crash),
S survived (E equivalent, listed), T timeout/error; score: X% of non-equivalent, Y% of those
that run``, where X is K over the mutants not listed as equivalent and Y is P over the mutants
that run without raising (killed by a property, or survived without being equivalent).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import difflib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

from pytest_mlbugs.isolation import PendingVerdict
from pytest_mlbugs.judging import THOROUGH_FACTOR, find_counterexample, judge_reference
from pytest_mlbugs.loader import load_source
from pytest_mlbugs.registry import Component, builtin_registry
from pytest_mlbugs.seeds import derive_seed
from pytest_mlbugs.verdict import HarnessError, PropertyFailure, Status, Verdict, first_line

SEED = 20261205
#: the failures of a property: an assertion, or the suite's check of the contract's shape
ASSERTIONS = ("AssertionError", "ContractMismatch")

#: Run by mutmut's interpreter: mutmut's own visitor and operators over each reference, one
#: mutant per mutation inside a function (mutmut mutates nothing else), named as mutmut names
#: them (``x_func__mutmut_3``, ``xǁClassǁmethod__mutmut_12``) after the component.
GENERATOR = r"""
import json, sys
import libcst as cst
from libcst.metadata import MetadataWrapper
from mutmut.mutation.file_mutation import MutationVisitor, deep_replace, group_by_top_level_node
from mutmut.mutation.mutators import mutation_operators
from mutmut.mutation.pragma_handling import IgnoredCode, PragmaVisitor
from mutmut.mutation.trampoline_templates import mangle_function_name

mutants = []
for component, filename, source in json.load(sys.stdin):
    wrapper = MetadataWrapper(cst.parse_module(source))
    pragmas = PragmaVisitor(filename)
    wrapper.visit(pragmas)
    visitor = MutationVisitor(
        mutation_operators, IgnoredCode(pragmas.no_mutate_lines, pragmas.ignore_node_lines, set())
    )
    module = wrapper.visit(visitor)
    classes = {
        id(method): statement.name.value
        for statement in module.body
        if isinstance(statement, cst.ClassDef) and isinstance(statement.body, cst.IndentedBlock)
        for method in statement.body.body
    }
    for function, mutations in group_by_top_level_node(visitor.mutations).items():
        mangled = mangle_function_name(name=function.name.value, class_name=classes.get(id(function)))
        for number, mutation in enumerate(mutations, start=1):
            mutated = deep_replace(module, mutation.original_node, mutation.mutated_node)
            name = f"{component}.{mangled}__mutmut_{number}"
            mutants.append({"component": component, "name": name, "source": mutated.code})
json.dump(mutants, sys.stdout)
"""

#: mutmut's mutants that no correct test can kill, by name: a fragment of the change as the
#: report prints it, ``before -> after`` (so that an entry goes stale, and the mutant counts as a
#: miss again, when the reference changes under it), and why the mutant is equivalent under the
#: contract (docs/contracts.md).
_MESSAGE = "only the message of an exception the contract does not ask for changes"
_AXIS = "on the contract's {} this axis is the same axis"
EQUIVALENT: dict[str, tuple[str, str]] = {
    "attention.xǁMultiHeadAttentionǁ__init____mutmut_5": ("ValueError(None)", _MESSAGE),
    "attention.xǁMultiHeadAttentionǁforward__mutmut_21": (
        "transpose(+2, -1)",
        "on the 4-D (B, H, T, d_k) keys, axis 2 is axis -2",
    ),
    "attention.xǁMultiHeadAttentionǁforward__mutmut_35": ('float("-INF")', 'float() parses "-INF" as -inf'),
    "data.x_train_test_split__mutmut_5": ("ValueError(None)", _MESSAGE),
    "data.x_train_test_split__mutmut_6": (
        "y.shape[1]",
        "only reached when X and y have different numbers of rows, outside contract 11",
    ),
    "data.x_train_test_split__mutmut_12": ("ValueError(None)", "only the message of the ValueError changes"),
    "data.x_standardize_split__mutmut_5": (
        "mean(dim=0, )",
        "a (D,) mean broadcasts over the (N, D) rows exactly as the (1, D) one",
    ),
    "data.x_standardize_split__mutmut_7": (
        "keepdim=False",
        "a (D,) mean broadcasts over the (N, D) rows exactly as the (1, D) one",
    ),
    "data.x_standardize_split__mutmut_14": (
        "correction=0, )",
        "a (D,) std broadcasts over the (N, D) rows exactly as the (1, D) one",
    ),
    "data.x_standardize_split__mutmut_17": (
        "keepdim=False",
        "a (D,) std broadcasts over the (N, D) rows exactly as the (1, D) one",
    ),
    "decoder.xǁTransformerDecoderLayerǁ__init____mutmut_23": (
        "nn.Dropout(dropout),",
        "dropout inside the feed-forward block is allowed, not required (contract 6, pinned)",
    ),
    "evaluation.x_evaluate_model__mutmut_24": ("argmax(dim=+1)", _AXIS.format("(B, num_classes) outputs")),
    "kv_cache.xǁKVCacheǁ__init____mutmut_6": ("persistent=None", "the buffers may be persistent or not"),
    "kv_cache.xǁKVCacheǁ__init____mutmut_9": ("dtype), )", "the buffers may be persistent or not"),
    "kv_cache.xǁKVCacheǁ__init____mutmut_16": ("persistent=True", "the buffers may be persistent or not"),
    "kv_cache.xǁKVCacheǁ__init____mutmut_19": ("persistent=None", "the buffers may be persistent or not"),
    "kv_cache.xǁKVCacheǁ__init____mutmut_22": ("dtype), )", "the buffers may be persistent or not"),
    "kv_cache.xǁKVCacheǁ__init____mutmut_29": ("persistent=True", "the buffers may be persistent or not"),
    "kv_cache.xǁKVCacheǁupdate__mutmut_3": ("ValueError(None)", "only the message of the ValueError changes"),
    "kv_cache.xǁKVCacheǁupdate__mutmut_7": ("-> None", "only the message of the ValueError changes"),
    "masks.x_create_causal_mask__mutmut_13": ("tril(ones, )", "diagonal=0 is torch.tril's default"),
    "metrics.x_accuracy__mutmut_3": ("argmax(dim=+1)", _AXIS.format("(N, C) logits")),
    "metrics.x_f1_score__mutmut_10": ("preds.unsqueeze(+1)", _AXIS.format("(N,) predictions")),
    "metrics.x_f1_score__mutmut_15": ("labels.unsqueeze(+1)", _AXIS.format("(N,) labels")),
    "metrics.x_f1_score__mutmut_31": ("ValueError(None)", _MESSAGE),
    "numerics.x_cross_entropy__mutmut_15": ("log_softmax(logits, )", "dim=-1 is log_softmax's default"),
    "numerics.x_cross_entropy__mutmut_16": ("dim=+1", _AXIS.format("(N, C) logits")),
    "numerics.x_cross_entropy__mutmut_25": ("gather(+1", _AXIS.format("(N, C) log-probabilities")),
    "numerics.x_cross_entropy__mutmut_28": ("unsqueeze(+1)", _AXIS.format("(N,) targets")),
    "numerics.x_cross_entropy__mutmut_30": ("squeeze(+1)", _AXIS.format("(N, 1) gathered values")),
    "optimization.x_build_optimizer__mutmut_4": (
        "recurse=None",
        "named_parameters treats recurse=None as recurse=False",
    ),
    "optimization.x_train_with_accumulation__mutmut_3": ("ValueError(None)", _MESSAGE),
    "positional_encoding.xǁPositionalEncodingǁ__init____mutmut_8": (
        "dtype=None",
        "integer positions times the float32 frequencies give the same float32 angles",
    ),
    "positional_encoding.xǁPositionalEncodingǁ__init____mutmut_10": (
        "arange(max_len, )",
        "integer positions times the float32 frequencies give the same float32 angles",
    ),
    "positional_encoding.xǁPositionalEncodingǁ__init____mutmut_18": (
        "dtype=None",
        "integer column indices times a Python float give the same float32 exponents",
    ),
    "positional_encoding.xǁPositionalEncodingǁ__init____mutmut_22": (
        "arange(0, d_model, 2, )",
        "integer column indices times a Python float give the same float32 exponents",
    ),
    "training.x_train_model__mutmut_4": ("ValueError(None)", _MESSAGE),
    "training.x_train_model__mutmut_6": (
        "best_loss = None",
        "the first epoch always takes the best_state is None branch, which sets best_loss",
    ),
    "training.x_train_model__mutmut_9": ('float("INF")', 'float() parses "INF" as inf'),
}

#: the reasons and mutant-name prefixes that the entries of _LAYERS share
_NO_BIAS = "nn.Linear treats bias=None as bias=False"
_PERSISTENT_NONE = "register_buffer treats persistent=None as persistent=False"
_EXPONENTS = "integer column indices over head_dim give the same float32 exponents"
_ANGLES = "integer positions times the float32 frequencies give the same float32 angles"
_ROPE_INIT = "rope.xǁRotaryEmbeddingǁ__init____mutmut_"
_ROPE_FORWARD = "rope.xǁRotaryEmbeddingǁforward__mutmut_"
_GQA_INIT = "gqa.xǁGroupedQueryAttentionǁ__init____mutmut_"
_GQA_FORWARD = "gqa.xǁGroupedQueryAttentionǁforward__mutmut_"
_FEED_FORWARD = "llama_block.xǁFeedForwardǁ__init____mutmut_"
#: contracts 14, 15, 16, 17: RMSNorm, rotary embeddings, grouped-query attention, the Llama block
#: (kept apart from the other groups so that each can grow on its own)
_LAYERS: dict[str, tuple[str, str]] = {
    f"{_ROPE_INIT}7": (
        "ValueError(None)",
        "an odd head_dim is outside contract 15; only the message changes",
    ),
    f"{_ROPE_INIT}8": (
        "self.head_dim = None",
        "contract 15 names no head_dim attribute, and forward never reads it",
    ),
    f"{_ROPE_INIT}18": ("dtype=None", _EXPONENTS),
    f"{_ROPE_INIT}22": ("arange(0, head_dim, 2, )", _EXPONENTS),
    f"{_ROPE_INIT}27": ("dtype=None", _ANGLES),
    f"{_ROPE_INIT}29": ("arange(max_seq_len, )", _ANGLES),
    f"{_ROPE_INIT}40": ("dim=+1", _AXIS.format("(max_seq_len, D/2) angles")),
    f"{_ROPE_INIT}44": ("persistent=None", _PERSISTENT_NONE),
    f"{_ROPE_INIT}53": ("persistent=None", _PERSISTENT_NONE),
    f"{_ROPE_FORWARD}3": ("x.shape[+2]", _AXIS.format("(B, H, T, D) inputs")),
    f"{_ROPE_FORWARD}7": ("-> None", _MESSAGE),
    f"{_ROPE_FORWARD}8": ("seq_len + 1} exceed", _MESSAGE),
    f"{_ROPE_FORWARD}9": ("start_pos - seq_len - 1}", _MESSAGE),
    f"{_ROPE_FORWARD}10": ("seq_len - 2} exceed", _MESSAGE),
    f"{_GQA_INIT}3": (
        "and num_heads % num_kv_heads",
        "only layouts outside contract 16 (pinned: num_heads not dividing d_model, or num_kv_heads not "
        "dividing num_heads) lose the ValueError",
    ),
    f"{_GQA_INIT}10": ("-> None", _MESSAGE),
    f"{_GQA_INIT}20": ("bias=None", _NO_BIAS),
    f"{_GQA_INIT}29": ("bias=None", _NO_BIAS),
    f"{_GQA_INIT}38": ("bias=None", _NO_BIAS),
    f"{_GQA_INIT}47": ("bias=None", _NO_BIAS),
    f"{_GQA_FORWARD}7": (
        "past_kv[1].shape[2]",
        "the cached values have the cached keys' shape (contract 16)",
    ),
    f"{_GQA_FORWARD}104": ("transpose(+2, -1)", _AXIS.format("(B, H, S, hd) keys")),
    f"{_GQA_FORWARD}128": ('float("-INF")', 'float() parses "-INF" as -inf'),
    f"{_FEED_FORWARD}4": ("bias=None", _NO_BIAS),
    f"{_FEED_FORWARD}12": ("bias=None", _NO_BIAS),
    f"{_FEED_FORWARD}20": ("bias=None", _NO_BIAS),
}

#: contracts 18, 19, 20, 21: the LM loss, sampling, cached generation, LR schedules
#: (kept apart from the other groups so that each can grow on its own)
_DECODING: dict[str, tuple[str, str]] = {
    "sampling.x_process_logits__mutmut_11": ("size(+1)", _AXIS.format("(B, V) logits")),
    "sampling.x_process_logits__mutmut_19": ("topk(logits, k, )", "dim=-1 is torch.topk's default"),
    "sampling.x_process_logits__mutmut_20": ("k, dim=+1)", _AXIS.format("(B, V) logits")),
    "sampling.x_process_logits__mutmut_32": ('float("-INF")', 'float() parses "-INF" as -inf'),
    "sampling.x_process_logits__mutmut_39": (
        "sort(logits, descending=True)",
        "dim=-1 is torch.sort's default",
    ),
    "sampling.x_process_logits__mutmut_41": ("sort(logits, dim=+1", _AXIS.format("(B, V) logits")),
    "sampling.x_process_logits__mutmut_50": ("softmax(sorted_logits, dim=+1)", _AXIS.format("(B, V) logits")),
    "sampling.x_process_logits__mutmut_52": ("cumsum(dim=+1)", _AXIS.format("(B, V) probabilities")),
    "sampling.x_process_logits__mutmut_55": (
        "cumulative >= top_p",
        "differs only where a cumulative probability equals top_p exactly; suites stay 1e-3 away (pinned)",
    ),
    "sampling.x_process_logits__mutmut_70": ("scatter(+1", _AXIS.format("(B, V) mask")),
    "sampling.x_process_logits__mutmut_79": ('float("-INF")', 'float() parses "-INF" as -inf'),
    "sampling.x_sample__mutmut_5": ("argmax(dim=+1)", _AXIS.format("(B, V) logits")),
    "sampling.x_sample__mutmut_20": ("top_p), dim=+1)", _AXIS.format("(B, V) logits")),
    "sampling.x_sample__mutmut_30": ("squeeze(+1)", _AXIS.format("(B, 1) draws")),
    "generation.x_generate__mutmut_16": (
        "past_kv=None)  # prefill",
        "past_kv is still None at the prefill: the same argument",
    ),
    "generation.x_generate__mutmut_18": (
        "model(input_ids, )",
        "contract 20's model signature defaults past_kv to None, what the prefill passes",
    ),
    "schedule.xǁWarmupCosineǁ__init____mutmut_1": (
        "min_lr_ratio: float = 1.0",
        "WarmupCosine is no contract API: build_scheduler, the only way in, always passes min_lr_ratio",
    ),
}

#: contracts 22, 23, 24: mixed precision, checkpoints, batching
#: (kept apart from the other groups so that each can grow on its own)
_GRAD_ZEROED = "gradients zeroed instead of set to None are allowed: none remains (contract 22, pinned)"
_TMP_NAME = (
    "the temporary file's name is not part of contract 23: mkstemp makes it unique in the checkpoint's folder"
)
_RIGHT = (
    'pad_batch pads on the right for every padding_side but "left": the default\'s spelling changes nothing'
)
_SLICE = "the same columns of the (B, T_max) batch"
_TRAINING: dict[str, tuple[str, str]] = {
    "amp.x_train_step__mutmut_23": ("set_to_none=None", "zero_grad reads None as False; " + _GRAD_ZEROED),
    "amp.x_train_step__mutmut_24": ("set_to_none=False", _GRAD_ZEROED),
    "checkpoint.x_save_checkpoint__mutmut_21": ("prefix=None", _TMP_NAME),
    "checkpoint.x_save_checkpoint__mutmut_24": ('mkstemp(dir=folder, suffix=".tmp")', _TMP_NAME),
    "checkpoint.x_save_checkpoint__mutmut_26": ('prefix="XX.checkpoint-XX"', _TMP_NAME),
    "checkpoint.x_save_checkpoint__mutmut_27": ('prefix=".CHECKPOINT-"', _TMP_NAME),
    "checkpoint.x_save_checkpoint__mutmut_28": ('suffix="XX.tmpXX"', _TMP_NAME),
    "checkpoint.x_save_checkpoint__mutmut_29": ('suffix=".TMP"', _TMP_NAME),
    "collate.x_pad_batch__mutmut_1": ('padding_side: str = "XXrightXX"', _RIGHT),
    "collate.x_pad_batch__mutmut_2": ('padding_side: str = "RIGHT"', _RIGHT),
    "collate.x_pad_batch__mutmut_11": (
        "pad_token_id, dtype=None,",
        "torch.full infers int64 from the int pad_token_id",
    ),
    "collate.x_pad_batch__mutmut_15": (
        "pad_token_id, device=device)",
        "torch.full infers int64 from the int pad_token_id",
    ),
    "collate.x_pad_batch__mutmut_31": ("slice(max_len - length, None)", _SLICE),
    "collate.x_pad_batch__mutmut_36": ("slice(None, length)", _SLICE),
    "collate.x_pad_batch__mutmut_38": ("slice(length)", _SLICE),
}

EQUIVALENT.update(_LAYERS)
EQUIVALENT.update(_DECODING)
EQUIVALENT.update(_TRAINING)


@dataclasses.dataclass(frozen=True)
class Mutant:
    component: str
    name: str
    source: str
    #: the first line that differs from the reference: number, before, after
    line: int
    before: str
    after: str


@dataclasses.dataclass
class Outcome:
    mutant: Mutant
    #: "property", "crash", "survived", "timeout" or "error"
    kind: str
    detail: str
    seconds: float


def changed_line(reference: str, source: str) -> tuple[int, str, str]:
    old, new = reference.splitlines(), source.splitlines()
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag != "equal":
            before = " / ".join(line.strip() for line in old[i1:i2])
            after = " / ".join(line.strip() for line in new[j1:j2])
            return i1 + 1, before, after
    return 0, "", ""


def make_mutants(python: str, components: list[Component]) -> list[Mutant]:
    request = [[c.name, c.reference_path, c.reference_source] for c in components]
    run = subprocess.run(
        [python, "-c", GENERATOR], input=json.dumps(request), capture_output=True, text=True, check=False
    )
    if run.returncode != 0:
        raise SystemExit(f"mutmut's interpreter could not make the mutants:\n{run.stderr[-2000:]}")
    sources = {c.name: c.reference_source for c in components}
    mutants = []
    for raw in json.loads(run.stdout):
        if raw["source"] == sources[raw["component"]]:
            continue  # a mutation that prints as the original (none seen; mutmut would skip it too)
        line, before, after = changed_line(sources[raw["component"]], raw["source"])
        mutants.append(Mutant(raw["component"], raw["name"], raw["source"], line, before, after))
    return mutants


def judge(component: Component, mutant: Mutant) -> Verdict:
    """Every property of the suite, as ``--mlbugs-impl`` runs it (its example count, explicit
    cases first), stopping at the first property that fails with an ``AssertionError``; the
    failures found on the way, each message starting with its exception's name."""
    started = time.perf_counter()
    try:
        impl = load_source(
            mutant.source, name=f"_mlbugs_generic_{mutant.name.replace('.', '_')}", filename=mutant.name
        )
    except Exception as exc:
        return Verdict(
            Status.ERROR, time.perf_counter() - started, [], f"raised at import: {first_line(exc)}"
        )
    failures: list[PropertyFailure] = []
    broken: list[str] = []
    for prop in component.suite.properties:
        thorough = dataclasses.replace(prop, max_examples=prop.max_examples * THOROUGH_FACTOR)
        try:
            found = find_counterexample(thorough, impl, seed=derive_seed(SEED, prop.qualified_name))
        except HarnessError as exc:
            broken.append(str(exc))
            continue
        if found is not None:
            failures.append(found.failure)
            if is_property_failure(found.failure):
                break
    seconds = time.perf_counter() - started
    if failures:
        return Verdict(Status.DETECTED, seconds, failures)
    if broken:
        return Verdict(Status.ERROR, seconds, [], broken[0])
    return Verdict(Status.SURVIVED, seconds)


def is_property_failure(failure: PropertyFailure) -> bool:
    return failure.message.split(":", 1)[0] in ASSERTIONS


def classify(mutant: Mutant, verdict: Verdict) -> Outcome:
    if verdict.status == Status.DETECTED:
        prop = next((f for f in verdict.failures if is_property_failure(f)), None)
        if prop is not None:
            return Outcome(mutant, "property", f"{prop.property}: {prop.message}", verdict.seconds)
        crash = verdict.failures[0]
        return Outcome(mutant, "crash", f"{crash.property}: {crash.message}", verdict.seconds)
    if verdict.status == Status.SURVIVED:
        return Outcome(mutant, "survived", "", verdict.seconds)
    kind = "timeout" if verdict.status == Status.TIMEOUT else "error"
    return Outcome(mutant, kind, verdict.detail, verdict.seconds)


def judge_all(
    registry_components: dict[str, Component], mutants: list[Mutant], *, jobs: int, timeout: float
) -> list[Outcome]:
    """Each mutant in a forked child, ``jobs`` children at a time, in order."""
    outcomes: list[Outcome] = []
    pending: collections.deque[tuple[Mutant, PendingVerdict]] = collections.deque()

    def job_for(mutant: Mutant) -> Any:
        return lambda: judge(registry_components[mutant.component], mutant)

    for mutant in mutants:
        verdict = PendingVerdict(job_for(mutant), timeout=timeout, isolation="fork")
        verdict.start()
        pending.append((mutant, verdict))
        if len(pending) >= jobs:
            done, result = pending.popleft()
            outcomes.append(classify(done, result.result()))
    while pending:
        done, result = pending.popleft()
        outcomes.append(classify(done, result.result()))
    return outcomes


def equivalence(outcome: Outcome) -> str | None:
    """The listed reason why a survivor is equivalent, or ``None`` for a miss."""
    entry = EQUIVALENT.get(outcome.mutant.name)
    if entry is None or entry[0] not in f"{outcome.mutant.before} -> {outcome.mutant.after}":
        return None
    return entry[1]


def percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "n/a"


def report(outcomes: list[Outcome], components: list[str]) -> None:
    header = (
        f"{'component':20} {'mutants':>7} {'property':>8} {'crash':>6} {'survived':>8} {'timeout/error':>13}"
    )
    print(header)
    for name in components:
        mine = [o for o in outcomes if o.mutant.component == name]
        kinds = collections.Counter(o.kind for o in mine)
        print(
            f"{name:20} {len(mine):7} {kinds['property']:8} {kinds['crash']:6} {kinds['survived']:8} "
            f"{kinds['timeout'] + kinds['error']:13}"
        )
    survivors = [o for o in outcomes if o.kind == "survived"]
    equivalent = [o for o in survivors if equivalence(o) is not None]
    misses = [o for o in survivors if equivalence(o) is None]
    if equivalent:
        print(f"\nequivalent survivors ({len(equivalent)}):")
        for o in equivalent:
            change = f"{o.mutant.before}  ->  {o.mutant.after}"
            print(f"  {o.mutant.name} line {o.mutant.line}: {change}  [{equivalence(o)}]")
    if misses:
        print(f"\nMISSES: survivors no property killed ({len(misses)}):")
        for o in misses:
            print(f"  {o.mutant.name} line {o.mutant.line}: {o.mutant.before}  ->  {o.mutant.after}")
    stuck = [o for o in outcomes if o.kind in ("timeout", "error")]
    if stuck:
        print(f"\ntimeouts and errors ({len(stuck)}):")
        for o in stuck:
            print(f"  {o.kind:7} {o.mutant.name} line {o.mutant.line}: {o.mutant.after}: {o.detail}")
    used = {o.mutant.name for o in equivalent}
    stale = sorted(name for name in set(EQUIVALENT) - used if name.split(".", 1)[0] in components)
    if stale:
        print(f"\nEQUIVALENT entries that match no surviving mutant (stale): {', '.join(stale)}")
    kinds = collections.Counter(o.kind for o in outcomes)
    killed = kinds["property"] + kinds["crash"]
    stuck_count = kinds["timeout"] + kinds["error"]
    total = len(outcomes)
    print(
        f"\ngeneric mutants: {total} mutants, {killed} killed ({kinds['property']} by a property, "
        f"{kinds['crash']} by a crash), {len(survivors)} survived ({len(equivalent)} equivalent, listed), "
        f"{stuck_count} timeout/error; score: {percent(killed, total - len(equivalent))} of non-equivalent, "
        f"{percent(kinds['property'], kinds['property'] + len(misses))} of those that run"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mutmut-python", required=True, help="an interpreter that has mutmut 3 installed")
    parser.add_argument("--components", help="comma-separated components (default: every built-in one)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants judged at once (default 2)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per mutant (default 60)")
    parser.add_argument("--json", type=Path, help="write every mutant's outcome to this file")
    args = parser.parse_args()
    registry = builtin_registry()
    names = sorted(registry.components) if not args.components else args.components.split(",")
    unknown = [n for n in names if n not in registry.components]
    if unknown:
        raise SystemExit(f"unknown components: {', '.join(unknown)}")
    components = [registry.components[n] for n in names]
    for component in components:  # the harness first: a reference must pass its whole suite
        verdict = judge_reference(component, module_name=f"_mlbugs_generic_ref_{component.name}", seed=SEED)
        if verdict.status != Status.PASSED:
            raise SystemExit(f"the reference of {component.name} fails its suite: {verdict}")
    started = time.perf_counter()
    mutants = make_mutants(args.mutmut_python, components)
    made = time.perf_counter() - started
    outcomes = judge_all(registry.components, mutants, jobs=max(1, args.jobs), timeout=args.timeout)
    took = time.perf_counter() - started
    print(
        f"{len(mutants)} mutants made by mutmut's operators in {made:.1f} s, judged in {took - made:.1f} s\n"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {"name": o.mutant.name, "kind": o.kind, "detail": o.detail, "line": o.mutant.line,
                     "before": o.mutant.before, "after": o.mutant.after, "seconds": round(o.seconds, 3)}
                    for o in outcomes
                ],
                indent=1,
            )
        )  # fmt: skip
    report(outcomes, names)


if __name__ == "__main__":
    main()
