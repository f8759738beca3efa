"""Kills from properties, not from crashes.

A variant counts as detected when any property fails on it, and a crash of the variant inside a
property is a failure too. That is weaker evidence than a check that saw the wrong behaviour:
a variant that only ever dies of a ``TypeError`` says nothing about whether the suite would
catch the same bug written so that it runs. This test judges every variant of the kill matrix
as a session judges it (the bug's own debugging layer first) and reads how its first failure
ended: ``PropertyFailure.message`` starts with the exception's name, and an ``AssertionError``
(``assert``, ``torch.testing.assert_close``) is a property failure, anything else an exception.

Every mutator must have at least one variant caught by a property failure, except those in
:data:`CRASH_ONLY`, each with the reason; a mutator caught by a property today that regresses to
exceptions only fails here, and so does a listed one that a property now catches (take it off the
list). The per-mutator table and the overall share are printed (``-s`` not needed).
"""

from __future__ import annotations

import collections

import pytest

from pytest_mlbugs.generator import Variant, all_single_bug_variants
from pytest_mlbugs.isolation import PendingVerdict
from pytest_mlbugs.judging import judge_planned, judge_reference
from pytest_mlbugs.registry import builtin_registry
from pytest_mlbugs.verdict import Status, Verdict

REGISTRY = builtin_registry()
SEED = 20261123  # the kill matrix's

#: mutators whose variants are caught only by an exception today, and why no property sees
#: the wrong behaviour first
CRASH_ONLY: dict[str, str] = {
    "nucleus_drops_top_token": "a nucleus without its most probable token is empty whenever that token alone "
    "reaches top_p: every logit is -inf, the softmax is NaN and torch.multinomial refuses it",
    "zero_temperature_divides": "dividing the logits by a temperature of 0 gives inf and NaN, which "
    "torch.multinomial refuses: the bug is loud wherever greedy decoding is asked for",
    "past_kv_concatenated_on_wrong_axis": "new keys joined to the cache on the heads axis give a cache of "
    "the wrong shape, and attention raises at the next step that reads it: a loud bug wherever a prompt has "
    "more than one token",
    "clip_grad_norm_deprecated": "the bug is the deprecated call itself: the suite turns its FutureWarning "
    "into the error, as a later PyTorch will",
    "criterion_args_swapped": "cross-entropy of integer class targets against the logits fails inside the "
    "loss (log_softmax of a LongTensor) before there is a value to compare; with MSE the swap is harmless",
    "targets_wrong_dtype_or_onehot": "float one-hot targets cannot index the log-probabilities and one_hot "
    "refuses the ignore_index: the loss fails before it has a value",
}

PROPERTY = "property"
#: the failures of a property: an assertion, or the suite's check of the contract's shape
ASSERTIONS = ("AssertionError", "ContractMismatch")
EXCEPTION = "exception"


def kill_source(verdict: Verdict) -> str:
    """``property``, ``exception``, or the verdict's status when it is not a detection."""
    if verdict.status != Status.DETECTED:
        return verdict.status
    return PROPERTY if verdict.failures[0].message.split(":", 1)[0] in ASSERTIONS else EXCEPTION


def judge_all(variants: list[Variant]) -> list[Verdict]:
    """Each variant in a forked child, two at a time (the verdicts come back in order), after
    every reference passed its suite here: that checks the harness and warms this process, so
    that no child pays for the first use of the suites again."""
    for name, component in REGISTRY.components.items():
        verdict = judge_reference(component, module_name=f"_mlbugs_kill_sources_{name}", seed=SEED)
        assert verdict.status == Status.PASSED, (name, verdict.detail, verdict.failures)

    def job(variant: Variant):
        return lambda: judge_planned(REGISTRY, variant, seed=SEED)

    pending = [PendingVerdict(job(v), timeout=120, isolation="fork") for v in variants]
    verdicts = []
    for i, verdict in enumerate(pending):
        if i + 1 < len(pending):
            pending[i + 1].start()
        verdicts.append(verdict.result())
    return verdicts


def report(sources: dict[str, list[str]]) -> str:
    lines = [f"{'bug ID':40} {'variants':>8} {'property':>8} {'exception':>9}"]
    for bug_id, kinds in sorted(sources.items()):
        count = collections.Counter(kinds)
        lines.append(f"{bug_id:40} {len(kinds):8} {count[PROPERTY]:8} {count[EXCEPTION]:9}")
    every = [kind for kinds in sources.values() for kind in kinds]
    by_property = every.count(PROPERTY)
    mutators = sum(PROPERTY in kinds for kinds in sources.values())
    lines.append(
        f"kill sources: {by_property} of {len(every)} variants ({100 * by_property / len(every):.1f}%) "
        f"caught by a property failure, the rest by an exception; {mutators} of {len(sources)} "
        "mutators have a variant caught by a property"
    )
    return "\n".join(lines)


@pytest.mark.slow
def test_every_mutator_is_caught_by_a_property_failure(capsys: pytest.CaptureFixture[str]) -> None:
    variants = all_single_bug_variants(REGISTRY, sorted(REGISTRY.components))
    sources: dict[str, list[str]] = collections.defaultdict(list)
    for variant, verdict in zip(variants, judge_all(variants), strict=True):
        sources[variant.bugs[0].bug_id].append(kill_source(verdict))
    with capsys.disabled():
        print("\n" + report(sources))
    undetected = {bug_id: kinds for bug_id, kinds in sources.items() if set(kinds) - {PROPERTY, EXCEPTION}}
    assert not undetected, f"variants not detected (the kill matrix fails too): {undetected}"
    regressed = [b for b, kinds in sources.items() if b not in CRASH_ONLY and PROPERTY not in kinds]
    assert not regressed, f"caught only by exceptions, no property sees the bug: {regressed}"
    improved = [b for b in CRASH_ONLY if PROPERTY in sources.get(b, [])]
    assert not improved, f"now caught by a property: take them off CRASH_ONLY: {improved}"
    unknown = sorted(set(CRASH_ONLY) - set(sources))
    assert not unknown, f"CRASH_ONLY names mutators without a variant: {unknown}"
