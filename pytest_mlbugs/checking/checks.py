"""``--mlbugs-check-mutators``: one item per mutator, ours and third parties', that passes when

- its ``EXAMPLES`` hold (there is at least one) and no ``UNCHANGED`` source offers a site;
- it finds at least one site in the reference of every component it claims;
- every variant it writes (each site of each claimed reference) compiles;
- every such variant is detected: a property of the component's suite really fails on it, judged
  in a forked child as a session does. A survivor is shown with its diff and what to do.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import pytest

from pytest_mlbugs import options
from pytest_mlbugs.checking.options import PLUGIN_NAME
from pytest_mlbugs.collection import MadeItems, MlbugsCollector, claim_node_ids
from pytest_mlbugs.generator import Bug, Variant
from pytest_mlbugs.isolation import PendingVerdict
from pytest_mlbugs.judging import ReferenceChecks, judge_planned
from pytest_mlbugs.mutation import (
    Mutator,
    MutatorError,
    apply_sites,
    find_sites,
    mutate_source,
    parse,
    unified_diff,
)
from pytest_mlbugs.registry import Registry
from pytest_mlbugs.seeds import derive_seed
from pytest_mlbugs.verdict import Status, Verdict

#: the seed of a check when --mlbugs-seed is not given: a check is the same on every run
DEFAULT_SEED = 0


class MutatorCheckFailed(Exception):
    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = list(problems)


def _first_error_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


def example_problems(mutator: Mutator) -> list[str]:
    """What is wrong with the mutator's own ``EXAMPLES`` and ``UNCHANGED``."""
    problems = []
    if not mutator.EXAMPLES:
        problems.append("has no EXAMPLES: add at least one Example(before, after) to the class")
    for number, example in enumerate(mutator.EXAMPLES):
        try:
            written = mutate_source(example.before, mutator, example.site)
        except MutatorError as exc:
            problems.append(f"EXAMPLES[{number}]: {exc.reason}")
            continue
        except Exception as exc:  # before is not valid Python, for one
            problems.append(f"EXAMPLES[{number}]: {_first_error_line(exc)}")
            continue
        if written != example.after:
            diff = unified_diff(example.after, written, fromfile="expected after", tofile="what it writes")
            problems.append(f"EXAMPLES[{number}] does not hold:\n{diff.rstrip()}")
    for number, source in enumerate(mutator.UNCHANGED):
        try:
            sites = find_sites(parse(source), [mutator])[mutator.bug_id]
        except MutatorError as exc:
            problems.append(f"UNCHANGED[{number}]: {exc.reason}")
            continue
        except Exception as exc:
            problems.append(f"UNCHANGED[{number}]: {_first_error_line(exc)}")
            continue
        if sites:
            problems.append(
                f"UNCHANGED[{number}] offers {len(sites)} site(s), the first on line {sites[0].start_line}; "
                "it must offer none"
            )
    return problems


def variants_of(
    mutator: Mutator, registry: Registry, components: Sequence[str]
) -> tuple[list[Variant], list[str]]:
    """Every single-bug variant the mutator writes into the references of ``components``, and
    the problems met on the way (an unknown component, no site, a variant that does not compile)."""
    variants: list[Variant] = []
    problems: list[str] = []
    for name in components:
        component = registry.components.get(name)
        if component is None:
            problems.append(
                f"claims component {name!r}, which is not registered; "
                f"known: {', '.join(sorted(registry.components))}"
            )
            continue
        module = parse(component.reference_source)
        try:
            sites = find_sites(module, [mutator])[mutator.bug_id]
        except MutatorError as exc:
            problems.append(f"in {component.reference_path}: {exc.reason}")
            continue
        if not sites:
            problems.append(
                f"finds no site in {component.reference_path}, the reference of {name!r} it claims; "
                f"widen its match or drop {name!r} from components"
            )
        for site in sites:
            try:
                source = apply_sites(module, {mutator.bug_id: mutator}, [site.key])
            except MutatorError as exc:
                problems.append(
                    f"site {site.index} ({component.reference_path} line {site.start_line}): {exc.reason}"
                )
                continue
            variants.append(
                Variant(name, (Bug.at(site),), source, component.reference_source, component.reference_path)
            )
    return variants, problems


def static_problems(mutator: Mutator, registry: Registry) -> list[str]:
    """Everything the check finds without running a property suite."""
    problems = example_problems(mutator)
    problems += variants_of(mutator, registry, mutator.components)[1]
    return problems


def _verdict_problem(variant: Variant, verdict: Verdict) -> str:
    bug = variant.bugs[0]
    where = f"site {bug.site} ({variant.reference_path} line {bug.line})"
    if verdict.status == Status.SURVIVED:
        return "\n".join(
            [
                f"SURVIVED at {where}: no property of the {variant.component} suite failed on this variant.",
                variant.diff.rstrip(),
                f"  Add a property to the {variant.component} suite that fails on this variant; or, if the "
                "rewrite is equivalent here (the code behaves the same), return () from mutations() for "
                "this site and add the pattern to UNCHANGED.",
            ]
        )
    return "\n".join(
        [
            f"{verdict.status.upper()} at {where}: {verdict.detail} (not counted as a detection)",
            variant.diff.rstrip(),
        ]
    )


class MutatorCheckItem(pytest.Item):
    """Passes when the mutator's examples hold and every variant it writes is detected."""

    def __init__(
        self,
        *,
        mutator: Mutator,
        registry: Registry,
        components: Sequence[str],
        references: ReferenceChecks,
        settings: options.Settings,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.mutator = mutator
        self.registry = registry
        self.components = tuple(components)
        self.references = references
        self.settings = settings

    def runtest(self) -> None:
        mutator = self.mutator
        problems = example_problems(mutator)
        variants, found = variants_of(mutator, self.registry, self.components)
        problems += found
        reference_verdicts = self.references.verdicts()
        judged = []
        for variant in variants:
            reference = reference_verdicts.get(variant.component)
            if reference is not None and reference.status != Status.PASSED:
                problems.append(
                    f"cannot judge variants of {variant.component}: its reference does not pass its own "
                    f"suite ({reference.status}: {reference.detail or reference.failures})"
                )
                break
            judged.append(variant)
        for variant, verdict in zip(judged, self._judge(judged), strict=True):
            if verdict.status != Status.DETECTED:
                problems.append(_verdict_problem(variant, verdict))
        if problems:
            raise MutatorCheckFailed(problems)

    def _judge(self, variants: Sequence[Variant]) -> list[Verdict]:
        """Verdicts in order, a few forked children at a time."""
        width = max(1, min(4, os.cpu_count() or 1))
        pending = [
            PendingVerdict(self._job(v), timeout=self.settings.timeout, isolation=self.settings.isolation)
            for v in variants
        ]
        verdicts = []
        for number, one in enumerate(pending):
            for ahead in pending[number : number + width]:
                ahead.start()
            verdicts.append(one.result())
        return verdicts

    def _job(self, variant: Variant) -> Any:
        seed = derive_seed(self.settings.seed, variant.digest)

        def job() -> Verdict:  # a variant of this mutator alone: no bug to judge apart
            return judge_planned(self.registry, variant, seed=seed, solo=False)

        return job

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if not isinstance(excinfo.value, MutatorCheckFailed):
            return str(super().repr_failure(excinfo, style=style))
        mutator = self.mutator
        lines = [f"mutator {mutator.bug_id} (from {mutator.origin}) fails its check:"]
        lines += [f"- {problem}" for problem in excinfo.value.problems]
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"mlbugs check of mutator {self.mutator.bug_id} ({self.mutator.origin})"


class MutatorChecks(MadeItems):
    """The plugin object of the mode: collects one :class:`MutatorCheckItem` per mutator."""

    def __init__(self, config: pytest.Config, registry: Registry, settings: options.Settings) -> None:
        self.config = config
        self.registry = registry
        self.settings = settings
        claim_node_ids(config)
        self.plan = self._plan()
        self.outcomes: dict[str, str] = {}

    @classmethod
    def register(cls, config: pytest.Config, registry: Registry) -> None:
        """Check the options and register the mode's plugin object."""
        settings = options.parse_settings(config, registry, seed_from_controller=None)
        if settings.impls:
            raise pytest.UsageError(
                f"--mlbugs-check-mutators checks mutators; run {options.IMPL} in a separate pytest run"
            )
        if not settings.seed_was_given:
            settings = dataclasses.replace(settings, seed=DEFAULT_SEED)
        config.pluginmanager.register(cls(config, registry, settings), PLUGIN_NAME)

    def _plan(self) -> list[tuple[Mutator, tuple[str, ...]]]:
        """Each selected mutator with the components it is checked on: those it claims that are
        selected, and any it claims that do not exist (a problem to report)."""
        selected = set(self.settings.components)
        plan = []
        for bug_id in self.settings.mutators:
            mutator = self.registry.mutators[bug_id]
            components = tuple(
                c for c in mutator.components if c in selected or c not in self.registry.components
            )
            if components:
                plan.append((mutator, components))
        if not plan:
            raise pytest.UsageError(
                f"{options.MUTATORS}/{options.COMPONENTS}: no selected mutator claims a selected component; "
                f"see pytest {options.LIST}"
            )
        return plan

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        components = {c for _, cs in self.plan for c in cs}
        return [
            f"mlbugs: --mlbugs-check-mutators {options.SEED}={self.settings.seed} "
            f"({len(self.plan)} mutators over {len(components)} components)"
        ]

    def make_items(self, session: pytest.Session) -> list[pytest.Item]:
        items: list[pytest.Item] = []
        judged = sorted({c for _, cs in self.plan for c in cs if c in self.registry.components})
        references = ReferenceChecks(
            [self.registry.components[name] for name in judged],
            seed=self.settings.seed,
            timeout=self.settings.timeout,
        )
        root = MlbugsCollector.from_parent(session, name="mlbugs-check", nodeid="mlbugs-check")
        for mutator, components in self.plan:
            items.append(
                MutatorCheckItem.from_parent(
                    root,
                    name=mutator.bug_id,
                    mutator=mutator,
                    registry=self.registry,
                    components=components,
                    references=references,
                    settings=self.settings,
                )
            )
        return items

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.nodeid.startswith("mlbugs-check::"):
            self.outcomes[report.nodeid.split("::", 1)[1]] = report.outcome

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.outcomes:
            return
        failed = sorted(bug_id for bug_id, outcome in self.outcomes.items() if outcome != "passed")
        terminalreporter.section("mlbugs mutator check")
        terminalreporter.write_line(
            f"{len(self.outcomes) - len(failed)} of {len(self.outcomes)} mutators pass their check"
        )
        for bug_id in failed:
            mutator = self.registry.mutators[bug_id]
            terminalreporter.write_line(f"  failing: {bug_id} (from {mutator.origin})")
