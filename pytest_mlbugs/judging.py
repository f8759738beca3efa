"""Judging: a component's property suite run against an implementation, the Hypothesis way.

A property is plain data plus a check (:mod:`pytest_mlbugs.suite`); here it becomes a Hypothesis
test. A verdict on a variant runs few examples without shrinking, properties of the bug's own
debugging layer first, and stops at the first failure; ``--mlbugs-impl`` runs more and shrinks,
because a person reads the counterexample. Only a property that really failed is a failure: a
variant that cannot be imported, misses a contract name, or trips Hypothesis itself (an
unsatisfiable strategy is a harness bug) is an ``error``, and so is a variant that the sandbox's
limits refused (:func:`pytest_mlbugs.isolation.sandbox.limit_refusal`).

These functions run wherever the job runs (:mod:`pytest_mlbugs.isolation` decides where).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from hypothesis import HealthCheck, Phase, Verbosity, example, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import HypothesisException

from pytest_mlbugs.isolation.pending import run_isolated
from pytest_mlbugs.isolation.sandbox import alarm, limit_refusal, private_hypothesis_storage
from pytest_mlbugs.isolation.torchstate import torch_state_guard
from pytest_mlbugs.loader import load_source
from pytest_mlbugs.registry import Component, Registry
from pytest_mlbugs.seeds import derive_seed
from pytest_mlbugs.suite import Property
from pytest_mlbugs.verdict import BugVerdict, HarnessError, PropertyFailure, Status, Verdict, first_line

if TYPE_CHECKING:  # annotations only: judging needs no generator at run time
    from pytest_mlbugs.generator import Variant

#: examples in ``--mlbugs-impl`` runs, per example of a verdict
THOROUGH_FACTOR = 5


def hypothesis_settings(prop: Property, *, thorough: bool) -> settings:
    if thorough:
        return settings(
            max_examples=prop.max_examples * THOROUGH_FACTOR,
            phases=(Phase.explicit, Phase.generate, Phase.shrink),
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
    return settings(
        max_examples=prop.max_examples,
        phases=(Phase.explicit, Phase.generate),
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        print_blob=False,
    )


def hypothesis_test(
    prop: Property,
    impl: Any,
    *,
    seed: int,
    thorough: bool,
    on_failure: Callable[[Any, BaseException], None] | None = None,
) -> Callable[[], None]:
    """A zero-argument Hypothesis test of ``prop`` against ``impl``."""

    def test_property(case: Any) -> None:
        try:
            with torch_state_guard():
                prop.run_once(impl, case)
        except Exception as exc:
            if on_failure is not None:
                on_failure(case, exc)
            raise

    test_property.__name__ = test_property.__qualname__ = f"{prop.component}_{prop.name}"
    if prop.cases is None:
        return lambda: test_property(None)  # no Hypothesis involved: nothing to store
    test: Any = given(case=prop.cases)(test_property)
    for case in reversed(prop.explicit):
        test = example(case=case)(test)
    test = hypothesis_settings(prop, thorough=thorough)(test)
    seeded: Callable[[], None] = hypothesis_seed(seed)(test)

    def run() -> None:
        with private_hypothesis_storage():
            seeded()

    return run


class Counterexample(NamedTuple):
    """A property that failed, how, and the case it failed on (to replay it elsewhere)."""

    prop: Property
    failure: PropertyFailure
    case: Any
    #: what the property raised, with its traceback: in-process only (practice grading explains it)
    error: BaseException | None = None


def check_property(prop: Property, impl: Any, *, seed: int) -> PropertyFailure | None:
    """Run ``prop`` the verdict way; the first real failure, or ``None`` when it holds."""
    found = find_counterexample(prop, impl, seed=seed)
    return None if found is None else found.failure


def find_counterexample(prop: Property, impl: Any, *, seed: int) -> Counterexample | None:
    """:func:`check_property`, with the case that failed."""
    found: list[Counterexample] = []
    refusals: list[str] = []

    def record(case: Any, exc: BaseException) -> None:
        if not found:
            found.append(
                Counterexample(prop, PropertyFailure(prop.name, first_line(exc), repr(case)), case, exc)
            )
            refusal = limit_refusal(exc)
            if refusal is not None:
                refusals.append(refusal)

    test = hypothesis_test(prop, impl, seed=seed, thorough=False, on_failure=record)
    try:
        test()
    except Exception as exc:
        if refusals:
            raise HarnessError(f"{refusals[0]} in {prop.qualified_name}; not a detection") from exc
        if found:
            return found[0]
        if isinstance(exc, HypothesisException):
            raise HarnessError(f"Hypothesis could not run {prop.qualified_name}: {first_line(exc)}") from exc
        raise HarnessError(f"{prop.qualified_name} broke the harness: {first_line(exc)}") from exc
    return found[0] if found else None


def replays(counterexample: Counterexample, impl: Any) -> bool:
    """Whether ``impl`` fails the counterexample's property on the same case (no Hypothesis:
    a case is plain data, the property builds its tensors from it)."""
    try:
        with torch_state_guard():
            counterexample.prop.run_once(impl, counterexample.case)
    except HypothesisException:
        return False  # a property that needs Hypothesis' context (assume, note) cannot replay
    except Exception as exc:
        refusal = limit_refusal(exc)
        if refusal is not None:
            raise HarnessError(f"{refusal} in {counterexample.prop.qualified_name}; not a detection") from exc
        return True
    return False


def order_properties(properties: Sequence[Property], layers: Sequence[str]) -> list[Property]:
    """Properties of the bugs' own debugging layers first, then the rest, in suite order."""
    wanted = set(layers)
    return [p for p in properties if p.layer.value in wanted] + [
        p for p in properties if p.layer.value not in wanted
    ]


def judge_variant(
    component: Component,
    source: str,
    *,
    module_name: str,
    filename: str,
    seed: int,
    layers: Sequence[str] = (),
    solo_sources: Sequence[str] = (),
    time_limit: float | None = None,
) -> Verdict:
    """Run the suite against a variant until a property fails (in the current process).

    A variant of several bugs comes with each bug written alone (``solo_sources``, one per
    entry of ``layers``): each is judged too, so that the verdict says which bugs the suite
    catches on their own and which of them the variant's failure points to. The variant's
    own status does not depend on them: detected when any property fails on the whole variant.
    With ``time_limit`` (the seconds the whole job may take) the bugs alone share what the
    variant left of it, so that a bug that hangs alone is a ``timeout`` of its own, never the
    variant's.
    """
    started = time.perf_counter()

    def done(status: Status, failures: Sequence[PropertyFailure] = (), detail: str = "") -> Verdict:
        return Verdict(status, time.perf_counter() - started, list(failures), detail)

    impl, problem = _load_variant(component, source, module_name=module_name, filename=filename)
    if impl is None:
        return done(Status.ERROR, detail=problem)
    try:
        found = _first_failure(impl, order_properties(component.suite.properties, layers), seed=seed)
    except HarnessError as exc:
        return done(Status.ERROR, detail=str(exc))
    verdict = done(Status.SURVIVED) if found is None else done(Status.DETECTED, [found.failure])
    if len(solo_sources) > 1:
        for number, (solo, layer) in enumerate(zip(solo_sources, layers, strict=True), start=1):
            budget = None
            if time_limit is not None:
                left = time_limit - (time.perf_counter() - started)
                budget = SOLO_SHARE * left / (len(solo_sources) - number + 1)
            judged = _judge_bug_alone(
                component,
                solo,
                module_name=f"{module_name}_bug{number}",
                filename=f"{filename}, bug {number} alone",
                seed=seed,
                layer=layer,
                counterexample=found,
                budget=budget,
            )
            verdict.bugs.append(judged)
        verdict.seconds = time.perf_counter() - started
    return verdict


#: the part of a job's time left that the bugs alone may use, so that the variant's own verdict
#: still reaches the parent before the job's limit
SOLO_SHARE = 0.8


def judge_planned(
    registry: Registry,
    variant: Variant,
    *,
    seed: int,
    solo: bool = True,
    time_limit: float | None = None,
) -> Verdict:
    """:func:`judge_variant` on a variant the generator planned: its component's suite, the
    debugging layers of its bugs first, and (with ``solo``) each of its bugs alone too."""
    return judge_variant(
        registry.components[variant.component],
        variant.source,
        module_name=variant.module_name,
        filename=variant.filename,
        seed=seed,
        layers=[registry.mutators[bug.bug_id].layer.value for bug in variant.bugs],
        solo_sources=variant.solo_sources if solo else (),
        time_limit=time_limit,
    )


class BugAloneTimeout(BaseException):
    """A bug judged alone outran its share of the job's time (not an ``Exception``)."""


def _load_variant(component: Component, source: str, *, module_name: str, filename: str) -> tuple[Any, str]:
    """The variant as a module, or ``None`` and why it cannot be judged (an ``error``)."""
    try:
        impl = load_source(source, name=module_name, filename=filename)
    except Exception as exc:
        return None, f"the variant raised at import: {first_line(exc)}"
    missing = component.suite.missing_names(impl)
    if missing:
        return None, f"the variant no longer defines {', '.join(missing)}"
    return impl, ""


def _first_failure(impl: Any, properties: Sequence[Property], *, seed: int) -> Counterexample | None:
    """The first of ``properties`` that fails on ``impl``; raises :class:`HarnessError`."""
    for prop in properties:
        found = find_counterexample(prop, impl, seed=derive_seed(seed, prop.qualified_name))
        if found is not None:
            return found
    return None


def _judge_bug_alone(
    component: Component,
    source: str,
    *,
    module_name: str,
    filename: str,
    seed: int,
    layer: str,
    counterexample: Counterexample | None,
    budget: float | None,
) -> BugVerdict:
    """One bug of a variant of several, alone. The case that failed on the whole variant is
    replayed first: when it fails here too, the variant's failure points to this bug and the
    bug is caught alone, in one call of the property; otherwise the suite runs as for any
    variant, the bug's own debugging layer first."""
    try:
        with alarm(budget, BugAloneTimeout):
            impl, _problem = _load_variant(component, source, module_name=module_name, filename=filename)
            if impl is None:
                return BugVerdict(Status.ERROR)
            try:
                if counterexample is not None and replays(counterexample, impl):
                    return BugVerdict(Status.DETECTED, counterexample.prop.name, pointed_to=True)
                properties = order_properties(component.suite.properties, [layer])
                found = _first_failure(impl, properties, seed=seed)
            except HarnessError:
                return BugVerdict(Status.ERROR)
    except BugAloneTimeout:
        return BugVerdict(Status.TIMEOUT)
    return BugVerdict(Status.SURVIVED) if found is None else BugVerdict(Status.DETECTED, found.prop.name)


def judge_reference(component: Component, *, module_name: str, seed: int) -> Verdict:
    """Run every property against the reference: it must pass them all."""
    started = time.perf_counter()
    try:
        impl = load_source(component.reference_source, name=module_name, filename=component.reference_path)
    except Exception as exc:
        return Verdict(
            Status.ERROR,
            time.perf_counter() - started,
            [],
            f"the reference raised at import: {first_line(exc)}",
        )
    failures: list[PropertyFailure] = []
    for prop in component.suite.properties:
        try:
            failure = check_property(prop, impl, seed=derive_seed(seed, prop.qualified_name))
        except HarnessError as exc:
            return Verdict(Status.ERROR, time.perf_counter() - started, failures, str(exc))
        if failure is not None:
            failures.append(failure)
    return Verdict(Status.FAILED if failures else Status.PASSED, time.perf_counter() - started, failures)


class ReferenceChecks:
    """Every selected reference judged once, in this process, before any variant is forked.

    Two jobs in one: a reference must pass its suite before a verdict on its variants means
    anything, and running the suites here first warms this process (Hypothesis' engine, torch's
    kernels, the strategies), so that each forked child starts warm instead of paying seconds
    of first-use cost. One thread, so that no OpenMP pool exists in the parent at fork time.
    """

    def __init__(self, components: list[Component], *, seed: int, timeout: float) -> None:
        self.components = components
        self.seed = seed
        self.timeout = timeout
        self._verdicts: dict[str, Verdict] | None = None

    def keep_only(self, names: set[str]) -> None:
        """Judge only these components' references: the run selected nothing of the others."""
        self.components = [c for c in self.components if c.name in names]

    def verdicts(self) -> dict[str, Verdict]:
        if self._verdicts is None:
            self._verdicts = {component.name: self._judge(component) for component in self.components}
        return self._verdicts

    def _judge(self, component: Component) -> Verdict:
        def job() -> Verdict:
            torch.set_num_threads(1)  # restored by the state guard around in-process jobs
            return judge_reference(
                component,
                module_name=f"_mlbugs_reference_{component.name}",
                seed=derive_seed(self.seed, "reference", component.name),
            )

        # The variants' limit is sized for variants: a reference runs every property, first in a
        # cold process, so it gets ten times as long (and never less than five minutes).
        return run_isolated(job, timeout=max(10 * self.timeout, 300.0), isolation="none")
