"""pytest hooks of pytest-mlbugs: thin, and inert unless an ``--mlbugs-*`` option is given.

The stateful part, :class:`pytest_mlbugs.session.MlbugsSession`, is registered in
``pytest_configure`` only when asked for, as pytest-randomly does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_mlbugs import options

if TYPE_CHECKING:
    from pytest_mlbugs.registry import Registry


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_mlbugs import hooks

    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def _registry(config: pytest.Config) -> Registry:
    from pytest_mlbugs.registry import RegistryError, builtin_registry

    try:
        registry = builtin_registry()
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
    if not options.requested(config) or config.option.mlbugs_list:
        return
    from pytest_mlbugs.session import PLUGIN_NAME, MlbugsSession, seed_from_controller

    registry = _registry(config)
    settings = options.parse_settings(config, registry, seed_from_controller=seed_from_controller(config))
    config.pluginmanager.register(MlbugsSession(config, registry, settings), PLUGIN_NAME)
