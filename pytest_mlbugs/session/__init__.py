"""The seeded session: ``pytest --mlbugs-seed=42`` and ``--mlbugs-impl``, the default mode.

A seed's plan of buggy variants (:mod:`pytest_mlbugs.generator`) becomes one item per variant
and one per reference (:mod:`.items`), judged in reused workers; the verdicts become the
terminal summary and the JSON report (:mod:`.report`). ``--mlbugs-impl`` adds one item per
property of a user's file. :mod:`.session` is the plugin object that ties them together. This
module is the mode's face for :mod:`pytest_mlbugs.plugin`; its options are the shared ones of
:mod:`pytest_mlbugs.options`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_mlbugs import options

if TYPE_CHECKING:
    from pytest_mlbugs.registry import Registry

__all__ = ["PLUGIN_NAME", "configure", "requested"]

PLUGIN_NAME = "mlbugs-session"
requested = options.requested


def configure(config: pytest.Config, registry: Registry) -> None:
    # imported only when a session runs: it imports torch, Hypothesis and the suites
    from pytest_mlbugs.session.session import MlbugsSession

    settings = options.parse_settings(
        config, registry, seed_from_controller=options.seed_from_controller(config)
    )
    config.pluginmanager.register(MlbugsSession(config, registry, settings), PLUGIN_NAME)
