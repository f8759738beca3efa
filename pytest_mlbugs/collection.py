"""Collection for run modes whose items are made, not found in test files."""

from __future__ import annotations

from pathlib import Path

import pytest


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
