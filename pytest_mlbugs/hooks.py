"""Hooks that pytest-mlbugs publishes for conftest files and plugins."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_mlbugs.registry import Registry


@pytest.hookspec
def pytest_mlbugs_register(registry: Registry) -> None:
    """Add mutators (``registry.add_mutator(cls)``) or components to the catalogue.

    Called once per run, after the built-in catalogue is loaded and before options are checked,
    so that ``--mlbugs-mutators`` and ``--mlbugs-list`` see what you add.
    """
