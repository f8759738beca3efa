"""The option of ``--mlbugs-check-mutators``: cheap to import (every pytest run reads it
through :mod:`pytest_mlbugs.plugin`)."""

from __future__ import annotations

import pytest

PLUGIN_NAME = "mlbugs-check-mutators"
CHECK_MUTATORS = "--mlbugs-check-mutators"
HELP = (
    "check every registered mutator instead of running a session: its examples hold, it finds a site "
    "in each reference it claims, and every variant it writes compiles and is detected by the suites"
)


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlbugs")
    group.addoption(
        CHECK_MUTATORS, dest="mlbugs_check_mutators", action="store_true", default=False, help=HELP
    )


def requested(config: pytest.Config) -> bool:
    return bool(config.getoption("mlbugs_check_mutators", default=False))
