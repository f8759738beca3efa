"""Practice mode: fresh buggy exercises for every seed, graded by the property suites.

``pytest --mlbugs-seed=42 --mlbugs-practice=DIR`` writes one exercise per component into DIR;
``pytest DIR`` grades them. This module is the mode's face for :mod:`pytest_mlbugs.plugin`
(``add_options``, ``requested``, ``configure``). The rest: :mod:`.session` (writing a seed's
exercises safely, hints, reveals), :mod:`.exercises` (choosing the bugs and checking that the
suite fails on each exercise), :mod:`.rewrites` (the seed's surface disguise), :mod:`.grading`
(grading the user's fixes and keeping their progress).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_mlbugs.practice.options import PLUGIN_NAME, add_options, requested

if TYPE_CHECKING:
    from pytest_mlbugs.registry import Registry

__all__ = ["PLUGIN_NAME", "add_options", "configure", "requested"]


def configure(config: pytest.Config, registry: Registry) -> None:
    # imported only when the mode runs: it imports libcst, torch and the suites
    from pytest_mlbugs.practice.session import PracticeSession

    config.pluginmanager.register(PracticeSession.from_config(config, registry), PLUGIN_NAME)
