"""Collection for run modes whose items are made, not found in test files: the mixin that
makes them the run's items, the node that groups them, and the item of a broken mutator."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_mlbugs.mutation import Mutator

#: the first part of the node IDs of the items modes make (``mlbugs::attention::...``,
#: ``mlbugs-impl[path]::...``, ``mlbugs-check::...``, ``mlbugs-target[file:bug:site]``)
ROOTS = ("mlbugs", "mlbugs-impl[", "mlbugs-check", "mlbugs-target[")
#: node IDs of our items named on the command line, taken out of ``config.args``
_SELECTED = pytest.StashKey[tuple[str, ...]]()


def _is_ours(arg: str) -> bool:
    head = arg.split("::", 1)[0]
    return any(head == root or (root.endswith("[") and head.startswith(root)) for root in ROOTS)


def claim_node_ids(config: pytest.Config) -> tuple[str, ...]:
    """Take the node IDs of our items out of the command line's arguments (pytest would look
    for them as files) and keep them as a selection: ``pytest --mlbugs-seed=42
    "mlbugs::attention::softmax_wrong_dim[0123abcd]"`` runs that variant alone. An xdist worker
    gets the controller's selection through ``workerinput``."""
    if _SELECTED not in config.stash:
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None and "mlbugs_selected" in workerinput:
            claimed = tuple(workerinput["mlbugs_selected"])
        else:
            claimed = tuple(arg for arg in config.args if _is_ours(arg))
        config.args[:] = [arg for arg in config.args if not _is_ours(arg)]
        config.stash[_SELECTED] = claimed
    return config.stash[_SELECTED]


def selected(nodeid: str, selection: tuple[str, ...]) -> bool:
    """Whether ``nodeid`` is named by the selection, as pytest matches node IDs: itself, a node
    inside it, or every parametrization of it."""
    return not selection or any(
        nodeid == chosen or nodeid.startswith((f"{chosen}::", f"{chosen}[")) for chosen in selection
    )


def child_nodeid(parent: pytest.Collector | pytest.Session, name: str) -> str:
    """The node ID of ``parent``'s child called ``name``, spelled so that pytest reads it back as
    the same node: pytest parses ``[...]`` in a node ID as parameters, so an item whose own name
    holds brackets must be given its ID as a string, or ``--lf`` and node-ID selection could not
    match it against the IDs they read."""
    return f"{parent.nodeid}::{name}" if parent.nodeid else name


def owns_collection(config: pytest.Config) -> bool:
    """Whether the run is the mode's alone: no test paths were given on the command line (node
    IDs of our own items do not count).

    ``pytest --mlbugs-seed=42`` in a project collects only our items; ``pytest tests
    --mlbugs-seed=42`` runs the user's tests beside them.
    """
    return config.args_source != pytest.Config.ArgsSource.ARGS or (
        bool(config.stash.get(_SELECTED, ())) and not config.args
    )


class MadeItems:
    """Mixin for a mode's plugin object: its :meth:`make_items` become the run's items.

    They are made before pytest's own selection runs (``-k``, ``-m``, ``--deselect``, ``--lf``
    and ``-x`` treat them as any test), and node IDs of ours on the command line select among
    them (:func:`claim_node_ids`, called when the mode registers).
    """

    config: pytest.Config

    def make_items(self, session: pytest.Session) -> list[pytest.Item]:
        raise NotImplementedError

    def pytest_ignore_collect(self, collection_path: Path, config: pytest.Config) -> bool | None:
        if owns_collection(config) and collection_path != config.rootpath:
            return True
        return None

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:  # xdist: the workers select the same items
        node.workerinput["mlbugs_selected"] = list(claim_node_ids(self.config))

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        if owns_collection(config):
            items.clear()
        selection = claim_node_ids(config)
        made = [item for item in self.make_items(session) if selected(item.nodeid, selection)]
        count_as_collected(session, made)
        items.extend(made)


def count_as_collected(session: pytest.Session, made: Sequence[pytest.Item]) -> None:
    """Report made items as collected, so that pytest's "collected N items" and "N selected"
    count them (its terminal counts what collection reports, and ours are made after it)."""
    session.ihook.pytest_collectreport(report=pytest.CollectReport("", "passed", None, list(made)))


class MlbugsCollector(pytest.Collector):
    """A node that only groups items; its children are made up front."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, self.nodeid


class BrokenMutator(Exception):
    """A mutator raised, overran its time limit, or never produced a variant that compiles."""


class BrokenMutatorItem(pytest.Item):
    """Fails, naming a mutator the session had to leave out and why; the session ran without it."""

    def __init__(self, *, mutator: Mutator, reason: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mutator = mutator
        self.reason = reason

    def runtest(self) -> None:
        raise BrokenMutator(self.reason)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if not isinstance(excinfo.value, BrokenMutator):
            return str(super().repr_failure(excinfo, style=style))
        bug_id = self.mutator.bug_id
        return "\n".join(
            [
                f"BROKEN MUTATOR {bug_id} (from {self.mutator.origin}): {self.reason}",
                "  The session ran without it. Check it alone with "
                f"pytest --mlbugs-check-mutators --mlbugs-mutators={bug_id}",
            ]
        )

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"mlbugs broken mutator {self.mutator.bug_id} ({self.mutator.origin})"


def broken_mutator_items(
    parent: pytest.Collector, mutators: dict[str, Mutator], broken: dict[str, str]
) -> list[pytest.Item]:
    """One failing item per broken mutator, in bug-ID order."""
    return [
        BrokenMutatorItem.from_parent(
            parent,
            name=f"broken[{bug_id}]",
            nodeid=child_nodeid(parent, f"broken[{bug_id}]"),
            mutator=mutators[bug_id],
            reason=broken[bug_id],
        )
        for bug_id in sorted(broken)
    ]
