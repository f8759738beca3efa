"""The seeded session's plugin object: plans the variants, makes the items, gathers verdicts,
writes the summary and the report. Registered only when an ``--mlbugs-*`` option asks for it."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_mlbugs import devices, options
from pytest_mlbugs.atomicio import write_json_atomically
from pytest_mlbugs.collection import (
    MadeItems,
    MlbugsCollector,
    broken_mutator_items,
    child_nodeid,
    claim_node_ids,
)
from pytest_mlbugs.generator import PlanError, PlanNotes, plan_session
from pytest_mlbugs.isolation import set_child_memory_limit, shut_down_workers
from pytest_mlbugs.judging import ReferenceChecks
from pytest_mlbugs.loader import LoadError, load_user_file
from pytest_mlbugs.mutation import MutatorError
from pytest_mlbugs.progress import Progress
from pytest_mlbugs.registry import Registry, Selection
from pytest_mlbugs.reports.html import INDEX, write_html
from pytest_mlbugs.session.items import (
    VERDICT_KEY,
    JudgedItem,
    PropertyItem,
    ReferenceItem,
    RunOptions,
    VariantItem,
)
from pytest_mlbugs.session.report import Results, build_report, plan_lines, summary_lines
from pytest_mlbugs.show import remember, session_entry

#: settings the report leaves out: the seed has its own field, and the rest do not change the plan
NOT_IN_REPORT = ("seed", "report", "impls", "seed_was_given", "mutators_given", "components_given", "html")
#: the key under which an xdist worker hands the controller its plan's notes
PLAN_NOTES_KEY = "mlbugs_plan_notes"


class MlbugsSession(MadeItems):
    def __init__(self, config: pytest.Config, registry: Registry, settings: options.Settings) -> None:
        self.config = config
        self.registry = registry
        self.settings = settings
        claim_node_ids(config)
        self.results = Results()
        self.references: ReferenceChecks | None = None
        self.progress: Progress | None = None
        set_child_memory_limit(settings.memory_limit_mib)
        # --mlbugs-device: set before anything is forked, so children inherit it; where the
        # device does not exist every item is skipped with this reason (see make_items).
        devices.set_device(settings.device)
        self.device_missing = devices.unavailable_reason(settings.device)
        self._without_device: set[int] = set()
        self.impls = load_impls(self.registry, self.settings.impls)
        self.is_worker = hasattr(config, "workerinput")
        # Judge the next variant while this one finishes, where a core is free for it: not in
        # xdist workers, which already keep the cores busy.
        self.prefetch = not self.is_worker and (os.cpu_count() or 1) > 1 and self.device_missing is None
        self._judged: list[JudgedItem] = []
        #: what the plan could not give as asked; under xdist, the workers' (see pytest_testnodedown)
        self.plan_notes: PlanNotes | None = None

    # -- set-up -------------------------------------------------------------------------------

    # -- hooks --------------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        settings = self.settings
        what = []
        lines: list[str] = []
        if settings.generates_variants:
            selection = Selection(self.registry, settings.components, settings.mutators)
            what.append(f"{len(settings.components)} components, {len(selection.applying)} mutators")
            if selection.extensions:
                what.append("with " + ", ".join(selection.extensions))
            nothing = selection.nothing_selected(mutators_given=settings.mutators_given)
            lines.extend(f"mlbugs: {line}" for line in nothing)
        if settings.impls:
            what.append("checking " + ", ".join(f"{name}={path}" for name, path in settings.impls))
        return [f"mlbugs: {settings.header()} ({'; '.join(what)})", *lines]

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:  # xdist: every worker gets our seed
        node.workerinput["mlbugs_seed"] = self.settings.seed
        super().pytest_configure_node(node)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        # xdist: the controller plans nothing; every worker plans the same, and says what it got
        notes = getattr(node, "workeroutput", {}).get(PLAN_NOTES_KEY)
        if notes is not None:
            self.plan_notes = PlanNotes(**notes)

    def make_items(self, session: pytest.Session) -> list[pytest.Item]:
        settings = self.settings
        self.references = ReferenceChecks(
            [self.registry.components[name] for name in settings.components],
            seed=settings.seed,
            timeout=settings.timeout,
        )
        run = RunOptions(
            seed=settings.seed,
            timeout=settings.timeout,
            isolation=settings.isolation,
            references=self.references,
        )
        made: list[pytest.Item] = []
        for name, path, module in self.impls:
            component = self.registry.components[name]
            parent = MlbugsCollector.from_parent(
                session, name=f"mlbugs-impl[{path}]", nodeid=f"mlbugs-impl[{path}]"
            )
            for prop in component.suite.properties:
                made.append(
                    PropertyItem.from_parent(
                        parent,
                        name=f"{name}::{prop.name}",
                        nodeid=child_nodeid(parent, f"{name}::{prop.name}"),
                        prop=prop,
                        suite=component.suite,
                        impl=module,
                        impl_path=str(path),
                        seed=settings.seed,
                    )
                )
        if not settings.generates_variants:
            return self._skip_without_device(made)
        broken: dict[str, str] = {}  # mutators left out of the plan: each becomes a failing item
        self.plan_notes = PlanNotes()
        try:
            variants = plan_session(
                self.registry,
                seed=settings.seed,
                components=settings.components,
                mutators=settings.mutators,
                count=settings.count,
                max_bugs=settings.max_bugs,
                broken=broken,
                notes=self.plan_notes,
            )
        except (PlanError, MutatorError) as exc:
            raise pytest.UsageError(str(exc)) from None
        if self.is_worker:
            self.config.workeroutput[PLAN_NOTES_KEY] = dataclasses.asdict(self.plan_notes)  # type: ignore[attr-defined]
        root = MlbugsCollector.from_parent(session, name="mlbugs", nodeid="mlbugs")
        made.extend(broken_mutator_items(root, self.registry.mutators, broken))
        groups = {name: MlbugsCollector.from_parent(root, name=name) for name in settings.components}
        for name in settings.components:
            made.append(
                ReferenceItem.from_parent(
                    groups[name], name="reference", component=self.registry.components[name], run=run
                )
            )
        for ordinal, variant in enumerate(variants):
            if not settings.in_shard(ordinal):  # --mlbugs-shard: another shard judges it
                continue
            made.append(
                VariantItem.from_parent(
                    groups[variant.component],
                    name=f"{variant.label}[{variant.digest}]",  # a plan holds no variant twice
                    nodeid=child_nodeid(groups[variant.component], f"{variant.label}[{variant.digest}]"),
                    variant=variant,
                    ordinal=ordinal,
                    registry=self.registry,
                    run=run,
                )
            )
        return self._skip_without_device(made)

    def _skip_without_device(self, made: list[pytest.Item]) -> list[pytest.Item]:
        """Every item skipped, with the reason, when ``--mlbugs-device`` names a device this
        machine lacks: not an error, and no verdict (nothing counts as survived)."""
        if self.device_missing is not None:
            self._without_device.update(id(item) for item in made)
        return made

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if id(item) in self._without_device:
            pytest.skip(self.device_missing or "")

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """The xdist controller learns the items from its workers: the progress' total."""
        if self.progress is None:
            variants = sum(nodeid.startswith("mlbugs::") and nodeid.endswith("]") for nodeid in ids)
            self.progress = Progress(self.config, variants, "variants")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
        # Only the references of the components whose items were selected (-k, node IDs, --lf)
        if self.references is not None:
            self.references.keep_only(
                {
                    item.component_name
                    for item in session.items
                    if isinstance(item, VariantItem | ReferenceItem)
                }
            )
        variants = sum(isinstance(item, VariantItem) for item in session.items)
        self.progress = Progress(self.config, variants, "variants")
        # Reused workers run the jobs that existed when they were forked: make them all now.
        for item in session.items:
            if isinstance(item, JudgedItem):
                item.pending()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        if not self.prefetch:
            return
        for judged in (item, nextitem):
            if isinstance(judged, JudgedItem):
                judged.prepare()
                self._judged.append(judged)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call":
            return
        for key, value in report.user_properties:
            if key == VERDICT_KEY and isinstance(value, dict):
                self.results.add({**value, "nodeid": report.nodeid})
                if value.get("kind") == "variant" and self.progress is not None:
                    self.progress.advance()

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.device_missing is not None:
            terminalreporter.section(f"mlbugs {self.settings.header()}")
            terminalreporter.write_line(f"every mlbugs item was skipped: {self.device_missing}")
        lines = [*plan_lines(self.plan_notes), *summary_lines(self.results)]
        if not lines:
            return
        terminalreporter.section(f"mlbugs {self.settings.header()}")
        for line in lines:
            terminalreporter.write_line(line)
        if self.settings.report is not None:
            terminalreporter.write_line(f"report written to {self.settings.report}")
        if self.settings.html is not None:
            terminalreporter.write_line(f"HTML report written to {self.settings.html / INDEX}")

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        for judged in self._judged:  # prefetched, then never run (-x, Ctrl-C)
            judged.cancel()
        shut_down_workers()
        if self.is_worker:
            return
        descriptions = {bug_id: m.description for bug_id, m in self.registry.mutators.items()}
        remember(
            self.config,
            "session",
            [session_entry(v["nodeid"], v, descriptions) for v in self.results.sorted_variants()],
        )
        if self.settings.report is None and self.settings.html is None:
            return
        report = build_report(
            self.results,
            registry=self.registry,
            seed=self.settings.seed,
            settings={
                k: (str(v) if isinstance(v, Path) else v)
                for k, v in dataclasses.asdict(self.settings).items()
                if k not in NOT_IN_REPORT
            },
        )
        if self.settings.report is not None:
            write_json_atomically(self.settings.report, report)
        if self.settings.html is not None:
            write_html(report, self.settings.html)


def load_impls(registry: Registry, impls: Sequence[tuple[str, Path]]) -> list[tuple[str, Path, Any]]:
    """Each ``--mlbugs-impl`` file as a module; a file that cannot be one, or misses or misnames a
    contract name, is a one-line usage error."""
    loaded = []
    for ordinal, (name, path) in enumerate(impls):
        component = registry.components[name]
        try:
            module = load_user_file(path, name=f"_mlbugs_impl_{ordinal}_{name}", option=options.IMPL)
        except LoadError as exc:
            raise pytest.UsageError(str(exc)) from None
        except (SystemExit, KeyboardInterrupt) as exc:  # a user file's own exit at import
            raise pytest.UsageError(
                f"{options.IMPL}: importing {path} raised {type(exc).__name__}; remove the exit from the file"
            ) from None
        missing = component.suite.missing_names(module)
        if missing:
            raise pytest.UsageError(
                f"{options.IMPL}: {path} does not define {', '.join(missing)}, which the {name} contract "
                f"requires ({component.suite.contract}); add it or point at the right file"
            )
        # Every contract name is a class or a function: `MultiHeadAttention = 3` is a usage error
        # here, not a failure of every property later.
        wrong = [n for n in component.suite.names if not callable(getattr(module, n))]
        if wrong:
            kinds = ", ".join(f"{n} as {type(getattr(module, n)).__name__}" for n in wrong)
            raise pytest.UsageError(
                f"{options.IMPL}: {path} defines {kinds}; the {name} contract needs classes or functions "
                f"there ({component.suite.contract})"
            )
        loaded.append((name, path, module))
    return loaded
