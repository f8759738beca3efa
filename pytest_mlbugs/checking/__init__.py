"""``--mlbugs-check-mutators``: check every registered mutator, ours and third parties'.

One item per mutator (:mod:`.checks` says what is checked); ``--mlbugs-mutators``,
``--mlbugs-components``, ``--mlbugs-seed``, ``--mlbugs-timeout`` and ``--mlbugs-isolation``
narrow and tune it as they do a session. The seed defaults to 0, so that a check gives the same
verdicts on every run. This module is the mode's face for :mod:`pytest_mlbugs.plugin`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_mlbugs.checking.options import PLUGIN_NAME, add_options, requested

if TYPE_CHECKING:
    from pytest_mlbugs.registry import Registry

__all__ = ["PLUGIN_NAME", "add_options", "configure", "requested"]


def configure(config: pytest.Config, registry: Registry) -> None:
    # imported only when the mode runs: it imports torch, Hypothesis and libcst
    from pytest_mlbugs.checking.checks import MutatorChecks

    MutatorChecks.register(config, registry)
