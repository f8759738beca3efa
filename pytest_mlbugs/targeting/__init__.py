"""``--mlbugs-target``: mutation-test the user's own ML code with the user's own tests.

``pytest tests/ --mlbugs-target=src/mypkg/model.py`` writes every applicable bug of the
catalogue at every site of the target into memory (never onto disk), runs the user's own
collected tests against each mutant in a forked child, and reports the mutants that survive.

This module is the mode's face for :mod:`pytest_mlbugs.plugin` (``add_options``,
``requested``, ``configure``). The run itself: :mod:`.session` (the hooks and the run loop),
:mod:`.coverage` (the clean run), :mod:`.mutants` and :mod:`.cache` (finding mutants, keeping
verdicts), :mod:`.judge` (a mutant's job), :mod:`.results` and :mod:`.report` (what is said),
:mod:`.distributed` (``pytest -n``), :mod:`.swap` (a mutant swapped in place of its module).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_mlbugs.options import IMPL, parse_settings, seed_from_controller
from pytest_mlbugs.targeting.options import (
    FAIL_UNDER,
    PLUGIN_NAME,
    TARGET,
    add_options,
    check_target,
    fail_under,
    requested,
)

if TYPE_CHECKING:
    from pytest_mlbugs.registry import Registry

__all__ = ["PLUGIN_NAME", "add_options", "configure", "requested"]


def configure(config: pytest.Config, registry: Registry) -> None:
    threshold = fail_under(config.option.mlbugs_fail_under)
    if not config.option.mlbugs_target:
        raise pytest.UsageError(f"{FAIL_UNDER} needs {TARGET}=PATH: name the code to mutation-test")
    if config.option.mlbugs_impl:
        raise pytest.UsageError(f"{TARGET} and {IMPL} are separate modes; give one of them")
    targets = tuple(check_target(raw) for raw in config.option.mlbugs_target)
    settings = parse_settings(config, registry, seed_from_controller=seed_from_controller(config))
    # imported only when the mode runs: it imports pytest's runner internals and the engine
    from pytest_mlbugs.targeting.session import TargetSession

    config.pluginmanager.register(
        TargetSession(config, registry, settings, targets=targets, fail_under=threshold), PLUGIN_NAME
    )
