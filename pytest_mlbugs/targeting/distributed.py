"""Target mode under ``pytest -n``: the xdist controller hands out mutant items, workers judge.

Every worker collects the user's tests, finds the same mutants (the same seed, the same cache)
and turns them into :class:`MutantItem`s in the same order, so xdist can hand them out. A
worker makes its own clean run before its first mutant (or takes it from the cache) and judges
each item it is given before the item's own set-up; the record travels to the controller in the
item's report (``user_properties``), and the controller builds the same results as a serial run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

#: the key under which a mutant item's verdict travels from an xdist worker to the controller
VERDICT_KEY = "mlbugs_target"


class MutantItem(pytest.Item):
    """One mutant, as an xdist worker's item: judged before its set-up (see
    :meth:`pytest_mlbugs.targeting.session.TargetSession.pytest_runtest_protocol`); fails only
    when no verdict can be trusted."""

    def __init__(self, *, mutant_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mutant_id = mutant_id

    def runtest(self) -> None:
        for key, value in self.user_properties:
            if key == VERDICT_KEY and isinstance(value, dict) and value.get("stopped"):
                pytest.fail(value["stopped"], pytrace=False)

    def reportinfo(self) -> tuple[str, int | None, str]:
        return "mlbugs-target", None, self.name


def payloads(report: pytest.TestReport) -> list[dict[str, Any]]:
    """The payloads a worker attached to a mutant item's report (on the controller)."""
    if report.when != "call":
        return []
    return [value for key, value in report.user_properties if key == VERDICT_KEY and isinstance(value, dict)]


@dataclasses.dataclass
class WorkerState:
    """What an xdist worker keeps between the mutant items it judges."""

    #: the user's collected tests, which the mutant items replaced
    user_items: list[pytest.Item]
    #: the judge of this worker's clean run; made before its first item
    judge: Any = None
    tests_digest: str = ""
