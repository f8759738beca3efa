"""The item that reports a broken mutator in a seeded session."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_mlbugs.mutation import Mutator


class BrokenMutator(Exception):
    """A mutator raised, overran its time limit, or never produced a variant that compiles."""


class BrokenMutatorItem(pytest.Item):
    """Fails, naming a mutator the session had to leave out and why; the session ran without it."""

    def __init__(self, *, mutator: Mutator, reason: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mutator = mutator
        self.reason = reason

    def runtest(self) -> None:
        raise BrokenMutator(self.reason)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if not isinstance(excinfo.value, BrokenMutator):
            return str(super().repr_failure(excinfo, style=style))
        bug_id = self.mutator.bug_id
        return "\n".join(
            [
                f"BROKEN MUTATOR {bug_id} (from {self.mutator.origin}): {self.reason}",
                "  The session ran without it. Check it alone with "
                f"pytest --mlbugs-check-mutators --mlbugs-mutators={bug_id}",
            ]
        )

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"mlbugs broken mutator {self.mutator.bug_id} ({self.mutator.origin})"


def broken_mutator_items(
    parent: pytest.Collector, mutators: dict[str, Mutator], broken: dict[str, str]
) -> list[pytest.Item]:
    """One failing item per broken mutator, in bug-ID order."""
    return [
        BrokenMutatorItem.from_parent(
            parent, name=f"broken[{bug_id}]", mutator=mutators[bug_id], reason=broken[bug_id]
        )
        for bug_id in sorted(broken)
    ]
