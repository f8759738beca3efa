"""pytest items: one per variant, one per reference, one per property of a user's file."""

from __future__ import annotations

import dataclasses
import itertools
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

from pytest_mlbugs import properties
from pytest_mlbugs.failures import contract_mismatch, contract_reference, failed_check, user_line
from pytest_mlbugs.generator import Variant
from pytest_mlbugs.isolation import PendingVerdict
from pytest_mlbugs.judging import ReferenceChecks, hypothesis_test, judge_planned
from pytest_mlbugs.registry import Component, Registry
from pytest_mlbugs.reports import stryker
from pytest_mlbugs.seeds import derive_seed
from pytest_mlbugs.session.report import describe_alone
from pytest_mlbugs.suite import Property, Suite
from pytest_mlbugs.verdict import Status, Verdict

PROPERTIES_DIR = Path(properties.__file__).resolve().parent

#: the key under which an item's verdict travels in ``report.user_properties`` (xdist too)
VERDICT_KEY = "mlbugs"


class NotDetected(Exception):
    """A variant's bug was not caught, or its verdict is not a detection."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.status)
        self.verdict = verdict


class ReferenceFailed(Exception):
    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.status)
        self.verdict = verdict


@dataclasses.dataclass(frozen=True)
class RunOptions:
    seed: int
    timeout: float
    isolation: str
    references: ReferenceChecks


class JudgedItem(pytest.Item):
    """An item whose verdict is computed by a job that may start before the item runs."""

    run_options: RunOptions
    _pending: PendingVerdict | None = None

    def job(self) -> Verdict:
        raise NotImplementedError

    def pending(self) -> PendingVerdict:
        if self._pending is None:
            self._pending = PendingVerdict(
                self.job, timeout=self.run_options.timeout, isolation=self.run_options.isolation
            )
        return self._pending

    def prepare(self) -> None:
        """Start judging now (in a forked child), ahead of :meth:`runtest`."""
        self.run_options.references.verdicts()
        self.pending().start()

    def cancel(self) -> None:
        if self._pending is not None:
            self._pending.cancel()


class VariantItem(JudgedItem):
    """Passes when a property of the suite really fails on the variant."""

    def __init__(
        self, *, variant: Variant, ordinal: int, registry: Registry, run: RunOptions, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.add_marker("mlbugs")
        self.add_marker("mlbugs_variant")
        self.variant = variant
        self.ordinal = ordinal
        self.registry = registry
        self.run_options = run
        self.component: Component = registry.components[variant.component]

    @property
    def component_name(self) -> str:
        return self.component.name

    def job(self) -> Verdict:
        return judge_planned(
            self.registry,
            self.variant,
            seed=derive_seed(self.run_options.seed, self.variant.digest),
            time_limit=self.run_options.timeout,
        )

    def runtest(self) -> None:
        self.prepare()
        verdict = self.pending().result()
        self.user_properties.append((VERDICT_KEY, self.payload(verdict)))
        if verdict.status != Status.DETECTED:
            raise NotDetected(verdict)

    def payload(self, verdict: Verdict) -> dict[str, Any]:
        variant = self.variant
        first = verdict.failures[0] if verdict.failures else None
        return {
            "kind": "variant",
            "ordinal": self.ordinal,
            "id": variant.digest,
            "component": variant.component,
            "bugs": [
                bug.to_json() | (alone.to_json() if alone else {}) | self.change(source)
                for bug, alone, source in itertools.zip_longest(
                    variant.bugs, verdict.bugs, variant.solo_sources or (variant.source,)
                )
            ],
            "categories": sorted({self.registry.mutators[b.bug_id].category.value for b in variant.bugs}),
            "status": verdict.status.value,
            "seconds": round(verdict.seconds, 4),
            "property": first.property if first else None,
            "message": first.message if first else verdict.detail,
            "case": first.case if first else None,
            "diff": variant.diff,
        }

    def change(self, alone: str) -> dict[str, Any]:
        """The bug's own change to the reference (``alone``: the reference with only that bug),
        as the report's ``location`` and ``replacement``."""
        where, replacement = stryker.change(self.variant.reference_source, alone)
        return {"location": where, "replacement": replacement}

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if not isinstance(excinfo.value, NotDetected):
            return str(super().repr_failure(excinfo, style=style))
        verdict = excinfo.value.verdict
        lines = []
        if verdict.status == Status.SURVIVED:
            lines.append(
                f"SURVIVED: no property of the {self.variant.component} suite failed on this variant."
            )
        else:
            lines.append(f"{verdict.status.upper()}: {verdict.detail} (not counted as a detection)")
        for bug, alone in itertools.zip_longest(self.variant.bugs, verdict.bugs):
            mutator = self.registry.mutators[bug.bug_id]
            lines.append(f"  bug {bug.bug_id} (line {bug.line}): {bug.description or mutator.description}")
            lines.append(f"    symptom: {mutator.symptom}")
            if alone is not None:
                lines.append(f"    alone: {describe_alone(alone.alone, alone.caught_by)}")
        lines.append("")
        lines.append(self.variant.diff.rstrip())
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return (
            self.path,
            None,
            f"mlbugs variant {self.variant.digest} of {self.variant.component}: {self.variant.label}",
        )


class ReferenceItem(pytest.Item):
    """Passes when every property of the suite holds on the reference implementation."""

    def __init__(self, *, component: Component, run: RunOptions, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker("mlbugs")
        self.add_marker("mlbugs_reference")
        self.component = component
        self.run_options = run

    @property
    def component_name(self) -> str:
        return self.component.name

    def runtest(self) -> None:
        component = self.component
        verdict = self.run_options.references.verdicts()[component.name]
        self.user_properties.append(
            (
                VERDICT_KEY,
                {
                    "kind": "reference",
                    "component": component.name,
                    "status": verdict.status.value,
                    "seconds": round(verdict.seconds, 4),
                    "failures": [dataclasses.asdict(f) for f in verdict.failures],
                    "detail": verdict.detail,
                },
            )
        )
        if verdict.status != Status.PASSED:
            raise ReferenceFailed(verdict)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if not isinstance(excinfo.value, ReferenceFailed):
            return str(super().repr_failure(excinfo, style=style))
        verdict = excinfo.value.verdict
        lines = [
            f"the reference {self.component.reference_path} does not pass its own suite ({verdict.status})"
        ]
        if verdict.detail:
            lines.append(verdict.detail)
        for failure in verdict.failures:
            lines.append(f"  {failure.property}: {failure.message}  [{failure.case}]")
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"mlbugs reference {self.component.reference_path}"


class PropertyItem(pytest.Item):
    """One property of a suite against a user's implementation, shrunk for a person to read."""

    def __init__(
        self, *, prop: Property, suite: Suite, impl: Any, impl_path: str, seed: int, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.add_marker("mlbugs")
        self.add_marker("mlbugs_property")
        self.prop = prop
        self.suite = suite
        self.impl = impl
        self.impl_path = impl_path
        self.seed = seed

    def runtest(self) -> None:
        test = hypothesis_test(
            self.prop, self.impl, seed=derive_seed(self.seed, self.prop.qualified_name), thorough=True
        )
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny tensors: OpenMP only adds overhead
        try:
            test()
        finally:
            torch.set_num_threads(threads)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        prop = self.prop
        suite = self.suite
        mismatch = contract_mismatch(
            excinfo.value, prop, suite, user_file=self.impl_path, shown=self.impl_path
        )
        if mismatch is not None:
            lines = [
                mismatch,
                f"Found by the property {prop.qualified_name}; the traceback below shows where.",
            ]
        else:
            lines = [
                f"{self.impl_path} breaks the {prop.component} contract: {prop.name}",
                "What failed: " + failed_check(excinfo.value, prop).replace("\n", "\n  "),
            ]
            mine = user_line(excinfo.value, self.impl_path, shown=self.impl_path)
            if mine is not None:
                lines.append(f"In your file: {mine}")
            lines += [
                textwrap.fill(f"What it means: {prop.meaning}", width=100, subsequent_indent="  "),
                f"{prop.layer_line.capitalize()}; in training you would see: {prop.symptom}",
                f"The contract: {contract_reference(suite)}",
            ]
        return "\n".join([*lines, ""]) + str(super().repr_failure(excinfo, style=style))

    def _traceback_filter(self, excinfo: pytest.ExceptionInfo[BaseException]) -> Any:
        """Only the frames a person can act on: the property and the user's own code."""
        keep = (str(Path(self.impl_path).resolve()), str(PROPERTIES_DIR))
        traceback = excinfo.traceback
        filtered = traceback.filter(lambda entry: str(entry.path).startswith(keep))
        return filtered or traceback

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"{self.impl_path}: {self.prop.qualified_name}"
