"""Practice mode: fresh buggy exercises for every seed, graded by the property suites.

Scaffolding: the mode protocol of :mod:`pytest_mlbugs.plugin`, not yet implemented.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_mlbugs.registry import Registry


def add_options(parser: pytest.Parser) -> None:
    return None


def requested(config: pytest.Config) -> bool:
    return False


def configure(config: pytest.Config, registry: Registry) -> None:
    raise NotImplementedError
