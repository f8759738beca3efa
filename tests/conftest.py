from __future__ import annotations

import pytest

from pytest_mlbugs.registry import Registry, builtin_registry


@pytest.fixture(scope="session")
def registry() -> Registry:
    return builtin_registry()
