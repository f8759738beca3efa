"""Hooks that pytest-mlbugs publishes for conftest files and plugins."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_mlbugs.registry import Registry


@pytest.hookspec
def pytest_mlbugs_register(registry: Registry) -> None:
    """Add mutators (``registry.add_mutator(cls)``) or components (``registry.add_component``).

    Called once per run, after the built-in catalogue and the installed packages' entry points
    (groups ``pytest_mlbugs.mutators`` and ``pytest_mlbugs.components``) are loaded and before
    options are checked, so that ``--mlbugs-mutators``, ``--mlbugs-list`` and
    ``--mlbugs-check-mutators`` see what you add. A mutator added without an ``origin`` is listed
    with the file that defines it. A bug ID already taken is a usage error naming both origins.
    """
