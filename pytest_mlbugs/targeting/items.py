"""A mutant as a pytest item: target mode's mutants are tests like the user's own.

The run's items are the user's collected tests, then one :class:`MutantItem` per mutant, so
that everything pytest does with tests it does with mutants: ``-k``, ``-m``, ``--lf`` (the
survivors of the last run), ``-x`` (stop at the first survivor), ``pytest -n`` (xdist hands
mutants out like tests), progress, and the exit status. A mutant item passes when the user's
tests detect the mutant, fails when it survives (or its verdict is a timeout or an error), and
is skipped for a site a ``# mlbugs: ignore[...]`` pragma excludes.

The item's record (the mutant, its verdict, the tests that ran) travels in its report's
``user_properties``, so the xdist controller builds the same results as a serial run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from pytest_mlbugs.collection import selected
from pytest_mlbugs.targeting.mutants import Mutant
from pytest_mlbugs.targeting.results import IGNORED
from pytest_mlbugs.verdict import Status

#: the key under which a mutant item's record travels in ``report.user_properties``
RECORD_KEY = "mlbugs_target"


class NotDetected(Exception):
    """The user's tests did not detect the mutant (or its verdict is a timeout or an error)."""

    def __init__(self, record: dict[str, Any]) -> None:
        super().__init__(record["status"])
        self.record = record


class MutantItem(pytest.Item):
    """One mutant of the user's code; ``judge`` gives its payload (the record, or why no verdict
    can be trusted)."""

    def __init__(
        self, *, mutant: Mutant, judge: Callable[[MutantItem], dict[str, Any]], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.mutant = mutant
        self.judge = judge
        self.add_marker("mlbugs")
        self.add_marker("mlbugs_mutant")

    def runtest(self) -> None:
        payload = self.judge(self)
        self.user_properties.append((RECORD_KEY, payload))
        record = payload.get("record")
        if record is None:
            pytest.skip(f"no verdict: {payload.get('stopped')}")
        if record["status"] == IGNORED:
            pytest.skip(f"ignored by its pragma: {record['detail']}")
        if record["status"] != Status.DETECTED:
            raise NotDetected(record)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if not isinstance(excinfo.value, NotDetected):
            return str(super().repr_failure(excinfo, style=style))
        return "\n".join(describe(excinfo.value.record))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.mutant.file.path, self.mutant.first_line - 1, f"mutant {self.mutant.id}"


def how(record: dict[str, Any]) -> str:
    """Why a mutant was not detected, in a few words."""
    if record["status"] != Status.SURVIVED or not record["covered"]:
        return str(record["detail"])
    return f"{len(record['tests'])} test(s) passed"


def describe(record: dict[str, Any]) -> list[str]:
    """A mutant that was not detected: what it is, why it counts, what would catch it, its diff."""
    lines = [
        f"{str(record['status']).upper()} {record['id']}  {record['file']}:{record['line']}  "
        f"{record['description']}  ({how(record)})"
    ]
    if record["properties"]:
        shown = ", ".join(record["properties"][:4]) + (" ..." if len(record["properties"]) > 4 else "")
        lines.append(f"    would be caught by the {record['layer']} properties of the contract: {shown}")
    if record.get("cpu_check"):
        lines.append(
            f"    only a device other than the CPU shows this bug; a CPU test can: {record['cpu_check']}"
        )
    lines.extend("    " + line for line in record["diff"].rstrip("\n").splitlines())
    return lines


def payloads(report: pytest.TestReport) -> list[dict[str, Any]]:
    """The payloads attached to a mutant item's report (a serial run's or a worker's)."""
    if report.when != "call":
        return []
    return [value for key, value in report.user_properties if key == RECORD_KEY and isinstance(value, dict)]


def mutant_items(
    session: pytest.Session,
    mutants: Sequence[Mutant],
    judge: Callable[[MutantItem], dict[str, Any]],
    selection: tuple[str, ...],
) -> list[MutantItem]:
    """One item per mutant, those the command line's node IDs of ours name (all without any)."""
    made = (
        MutantItem.from_parent(session, name=name, nodeid=name, mutant=mutant, judge=judge)
        for mutant, name in ((m, f"mlbugs-target[{m.id}]") for m in mutants)
    )
    return [item for item in made if selected(item.nodeid, selection)]


class Upcoming:
    """The mutant items that follow an item in the run's order (pytest gives only the next)."""

    def __init__(self, items: Sequence[pytest.Item]) -> None:
        self.items = list(items)
        self.positions = {id(item): k for k, item in enumerate(self.items)}

    def after(self, item: pytest.Item, count: int) -> list[MutantItem]:
        """The mutant items among the ``count`` items after ``item``."""
        k = self.positions.get(id(item), len(self.items))
        return [each for each in self.items[k + 1 : k + 1 + count] if isinstance(each, MutantItem)]
