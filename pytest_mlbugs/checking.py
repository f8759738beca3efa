"""``--mlbugs-check-mutators``: check every registered mutator, ours and third parties'.

One item per mutator (see :mod:`pytest_mlbugs.extension_checks` for what is checked);
``--mlbugs-mutators``, ``--mlbugs-components``, ``--mlbugs-seed``, ``--mlbugs-timeout`` and
``--mlbugs-isolation`` narrow and tune it as they do a session. The seed defaults to 0, so that
a check gives the same verdicts on every run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_mlbugs.registry import Registry

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


def configure(config: pytest.Config, registry: Registry) -> None:
    from pytest_mlbugs import extension_checks

    extension_checks.configure(config, registry)
