"""Collection for run modes whose items are made, not found in test files: the mixin that
makes them the run's items, the node that groups them, and the item of a broken mutator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_mlbugs.mutation import Mutator


def owns_collection(config: pytest.Config) -> bool:
    """Whether the run is the mode's alone: no test paths were given on the command line.

    ``pytest --mlbugs-seed=42`` in a project collects only our items; ``pytest tests
    --mlbugs-seed=42`` runs the user's tests beside them.
    """
    return config.args_source != pytest.Config.ArgsSource.ARGS


class MadeItems:
    """Mixin for a mode's plugin object: its :meth:`make_items` become the run's items."""

    config: pytest.Config

    def make_items(self, session: pytest.Session) -> list[pytest.Item]:
        raise NotImplementedError

    def pytest_ignore_collect(self, collection_path: Path, config: pytest.Config) -> bool | None:
        if owns_collection(config) and collection_path != config.rootpath:
            return True
        return None

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if owns_collection(config):
            items.clear()
        items.extend(self.make_items(session))


class MlbugsCollector(pytest.Collector):
    """A node that only groups items; its children are made up front."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, self.nodeid


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
