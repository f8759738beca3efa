"""The seeded session's plugin object: plans the variants, makes the items, gathers verdicts,
writes the summary and the report. Registered only when an ``--mlbugs-*`` option asks for it."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from pytest_mlbugs import devices, options
from pytest_mlbugs.atomicio import write_json_atomically
from pytest_mlbugs.collection import MadeItems, MlbugsCollector, broken_mutator_items
from pytest_mlbugs.generator import PlanError, plan_session
from pytest_mlbugs.isolation import set_child_memory_limit, shut_down_workers
from pytest_mlbugs.judging import ReferenceChecks
from pytest_mlbugs.loader import LoadError, load_user_file
from pytest_mlbugs.mutation import MutatorError
from pytest_mlbugs.registry import Registry
from pytest_mlbugs.reports.html import INDEX, write_html
from pytest_mlbugs.session.items import (
    VERDICT_KEY,
    JudgedItem,
    PropertyItem,
    ReferenceItem,
    RunOptions,
    VariantItem,
)
from pytest_mlbugs.session.report import Results, build_report, summary_lines


class MlbugsSession(MadeItems):
    def __init__(self, config: pytest.Config, registry: Registry, settings: options.Settings) -> None:
        self.config = config
        self.registry = registry
        self.settings = settings
        self.results = Results()
        set_child_memory_limit(settings.memory_limit_mib)
        # --mlbugs-device: set before anything is forked, so children inherit it; where the
        # device does not exist every item is skipped with this reason (see make_items).
        devices.set_device(settings.device)
        self.device_missing = devices.unavailable_reason(settings.device)
        self._without_device: set[int] = set()
        self.impls = self._load_impls()
        self.is_worker = hasattr(config, "workerinput")
        # Judge the next variant while this one finishes, where a core is free for it: not in
        # xdist workers, which already keep the cores busy.
        self.prefetch = not self.is_worker and (os.cpu_count() or 1) > 1 and self.device_missing is None
        self._judged: list[JudgedItem] = []

    # -- set-up -------------------------------------------------------------------------------

    def _load_impls(self) -> list[tuple[str, Path, Any]]:
        loaded = []
        for ordinal, (name, path) in enumerate(self.settings.impls):
            component = self.registry.components[name]
            try:
                module = load_user_file(path, name=f"_mlbugs_impl_{ordinal}_{name}", option=options.IMPL)
            except LoadError as exc:
                raise pytest.UsageError(str(exc)) from None
            except (SystemExit, KeyboardInterrupt) as exc:  # a user file's own exit at import
                raise pytest.UsageError(
                    f"{options.IMPL}: importing {path} raised {type(exc).__name__}; "
                    "remove the exit from the file"
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

    # -- hooks --------------------------------------------------------------------------------

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        settings = self.settings
        what = []
        if settings.generates_variants:
            what.append(f"{len(settings.components)} components, {len(settings.mutators)} mutators")
        if settings.impls:
            what.append("checking " + ", ".join(f"{name}={path}" for name, path in settings.impls))
        return [f"mlbugs: {settings.header()} ({'; '.join(what)})"]

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:  # xdist: every worker gets our seed
        node.workerinput["mlbugs_seed"] = self.settings.seed

    def make_items(self, session: pytest.Session) -> list[pytest.Item]:
        settings = self.settings
        references = ReferenceChecks(
            [self.registry.components[name] for name in settings.components],
            seed=settings.seed,
            timeout=settings.timeout,
        )
        run = RunOptions(
            seed=settings.seed, timeout=settings.timeout, isolation=settings.isolation, references=references
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
                        prop=prop,
                        impl=module,
                        impl_path=str(path),
                        seed=settings.seed,
                    )
                )
        if not settings.generates_variants:
            return self._skip_without_device(made)
        broken: dict[str, str] = {}  # mutators left out of the plan: each becomes a failing item
        try:
            variants = plan_session(
                self.registry,
                seed=settings.seed,
                components=settings.components,
                mutators=settings.mutators,
                count=settings.count,
                max_bugs=settings.max_bugs,
                broken=broken,
            )
        except (PlanError, MutatorError) as exc:
            raise pytest.UsageError(str(exc)) from None
        root = MlbugsCollector.from_parent(session, name="mlbugs", nodeid="mlbugs")
        made.extend(broken_mutator_items(root, self.registry.mutators, broken))
        groups = {name: MlbugsCollector.from_parent(root, name=name) for name in settings.components}
        for name in settings.components:
            made.append(
                ReferenceItem.from_parent(
                    groups[name], name="reference", component=self.registry.components[name], run=run
                )
            )
        taken: set[str] = set()
        for ordinal, variant in enumerate(variants):
            item_name = f"{variant.label}[{variant.digest}]"
            repeat = 1
            while item_name in taken:  # the same variant twice in a long session
                repeat += 1
                item_name = f"{variant.label}[{variant.digest}-{repeat}]"
            taken.add(item_name)
            if not settings.in_shard(ordinal):  # --mlbugs-shard: another shard judges it
                continue
            made.append(
                VariantItem.from_parent(
                    groups[variant.component],
                    name=item_name,
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

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:
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
                self.results.add(value)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.device_missing is not None:
            terminalreporter.section(f"mlbugs {self.settings.header()}")
            terminalreporter.write_line(f"every mlbugs item was skipped: {self.device_missing}")
        lines = summary_lines(self.results)
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
        if self.is_worker or (self.settings.report is None and self.settings.html is None):
            return
        report = build_report(
            self.results,
            registry=self.registry,
            seed=self.settings.seed,
            settings={
                k: (str(v) if isinstance(v, Path) else v)
                for k, v in dataclasses.asdict(self.settings).items()
                if k not in ("seed", "report", "impls", "seed_was_given", "html")
            },
        )
        if self.settings.report is not None:
            write_json_atomically(self.settings.report, report)
        if self.settings.html is not None:
            write_html(report, self.settings.html)
