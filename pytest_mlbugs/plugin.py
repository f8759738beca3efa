"""pytest hooks of pytest-mlbugs: thin, and inert unless an ``--mlbugs-*`` option is given.

The stateful part is registered in ``pytest_configure`` only when asked for, as pytest-randomly
does: the seeded session (:class:`pytest_mlbugs.session.MlbugsSession`) by default, or one of
the other run modes. A mode is a module with three functions, kept cheap to import because
this module is loaded by every pytest run:

- ``add_options(parser)``: its own ``--mlbugs-*`` options;
- ``requested(config) -> bool``: whether the command line asks for this mode;
- ``configure(config, registry) -> None``: check its options (``pytest.UsageError`` on bad
  input) and register its plugin object.

The first mode that is requested runs; the seeded session runs when none is.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from pytest_mlbugs import options

if TYPE_CHECKING:
    from pytest_mlbugs.registry import Registry


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_mlbugs import hooks

    pluginmanager.add_hookspecs(hooks)


#: run modes beside the seeded session, in the order they are asked whether they are requested
MODE_MODULES = (
    "pytest_mlbugs.checking",  # --mlbugs-check-mutators
    "pytest_mlbugs.practice",  # --mlbugs-practice and friends
    "pytest_mlbugs.targeting",  # --mlbugs-target
)


def _modes() -> list[ModuleType]:
    return [importlib.import_module(name) for name in MODE_MODULES]


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)
    for mode in _modes():
        mode.add_options(parser)


def _registry(config: pytest.Config) -> Registry:
    from pytest_mlbugs.extension_points import load_entry_points
    from pytest_mlbugs.registry import RegistryError, builtin_registry

    try:
        registry = builtin_registry()
        load_entry_points(registry)  # installed packages, then conftest files
        config.hook.pytest_mlbugs_register(registry=registry)
    except RegistryError as exc:
        raise pytest.UsageError(str(exc)) from None
    return registry


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if not config.option.mlbugs_list:
        return None
    from pytest_mlbugs.catalogue import print_catalogue

    config._do_configure()
    try:
        print_catalogue(_registry(config), config.get_terminal_writer())
    finally:
        config._ensure_unconfigure()
    return 0


def pytest_configure(config: pytest.Config) -> None:
    if config.option.mlbugs_list:
        return
    for mode in _modes():
        if mode.requested(config):
            mode.configure(config, _registry(config))
            return
    if not options.requested(config):
        return
    from pytest_mlbugs.session import PLUGIN_NAME, MlbugsSession, seed_from_controller

    registry = _registry(config)
    settings = options.parse_settings(config, registry, seed_from_controller=seed_from_controller(config))
    config.pluginmanager.register(MlbugsSession(config, registry, settings), PLUGIN_NAME)
