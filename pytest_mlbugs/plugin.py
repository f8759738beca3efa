"""pytest hooks of pytest-mlbugs: thin, and inert unless an ``--mlbugs-*`` option is given.

The stateful part is registered in ``pytest_configure`` only when asked for, as pytest-randomly
does: the seeded session (:mod:`pytest_mlbugs.session`) by default, or one of
the other run modes. A mode is a module with three functions, kept cheap to import because
this module is loaded by every pytest run:

- ``add_options(parser)``: its own ``--mlbugs-*`` options;
- ``requested(config) -> bool``: whether the command line asks for this mode;
- ``configure(config, registry) -> None``: check its options (``pytest.UsageError`` on bad
  input) and register its plugin object.

The first mode that is requested runs; the seeded session runs when none is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_mlbugs import checking, hooks, options, practice, session, targeting
from pytest_mlbugs.show import show

if TYPE_CHECKING:
    from pytest_mlbugs.registry import Registry


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hooks)


#: run modes beside the seeded session, in the order they are asked whether they are requested
MODE_MODULES = (
    checking,  # --mlbugs-check-mutators
    practice,  # --mlbugs-practice and friends
    targeting,  # --mlbugs-target
)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)
    for mode in MODE_MODULES:
        mode.add_options(parser)


def _registry(config: pytest.Config) -> Registry:
    # imported only when a mode runs: the catalogue imports libcst and every mutator
    from pytest_mlbugs.extension_points import run_registry
    from pytest_mlbugs.registry import RegistryError

    try:
        return run_registry(config)
    except RegistryError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """``--mlbugs-list`` and ``--mlbugs-show`` print and exit, running nothing."""
    if not (config.option.mlbugs_list or config.option.mlbugs_show):
        return None
    config._do_configure()
    try:
        if config.option.mlbugs_show:
            show(config, config.option.mlbugs_show, config.get_terminal_writer())
        else:
            # imported only for --mlbugs-list: the catalogue imports libcst and every mutator
            from pytest_mlbugs.catalogue import print_catalogue

            print_catalogue(_registry(config), config.get_terminal_writer())
    finally:
        config._ensure_unconfigure()
    return 0


#: the markers of the items we make, for ``-m`` (registered on every run: cheap, and
#: ``--strict-markers`` must know them)
MARKERS = {
    "mlbugs": "an item made by pytest-mlbugs",
    "mlbugs_variant": "a buggy variant of a reference, passing when its bug is detected",
    "mlbugs_reference": "a reference implementation, passing when its whole suite holds",
    "mlbugs_property": "a property of a contract checked against your file (--mlbugs-impl)",
    "mlbugs_mutant": "a mutant of your code (--mlbugs-target), passing when your tests detect it",
}


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    if config.option.mlbugs_list or config.option.mlbugs_show:
        return
    for mode in MODE_MODULES:
        if mode.requested(config):
            mode.configure(config, _registry(config))
            return
    if session.requested(config):
        session.configure(config, _registry(config))
