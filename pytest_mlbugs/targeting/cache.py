"""What target mode keeps between runs, in pytest's cache: the mutants and the verdicts.

- **Mutants**, per target file, keyed by the file's source, the selected mutators and our
  version: finding them is libcst work, and an unchanged file need not be searched again.
  Where the cache lacks a file, the mutants are found in a forked child while this process makes
  the clean run (:meth:`TargetCache.find_meanwhile`).
- **Verdicts**, keyed by the mutant's source and by a digest of every project module loaded
  after collection (tests, conftests, helpers, the targets) and of the collected test ids: a
  change to any test or helper judges every mutant again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from pytest_mlbugs import __version__
from pytest_mlbugs.isolation.child import fork_quietly
from pytest_mlbugs.mutation import Mutator
from pytest_mlbugs.targeting.coverage import CleanRun, realpath
from pytest_mlbugs.targeting.mutants import Mutant, TargetFile, mutants_of

CACHE_KEY = "mlbugs/target"
#: the mutants of each target file, keyed by its source and the selected mutators
MUTANTS_CACHE_KEY = "mlbugs/target-mutants"
CACHE_FORMAT = 1

#: per target file (by cache key): ``{"problems": [...], "mutants": [fields of a Mutant]}``
Entries = dict[str, Any]


def _mutant_json(mutant: Mutant) -> dict[str, Any]:
    fields = {f.name: getattr(mutant, f.name) for f in dataclasses.fields(mutant) if f.name != "file"}
    fields["changed_lines"] = list(mutant.changed_lines)
    return fields


def merged(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """One file's entry from two searches with parts of the selected mutators: what one search
    with all of them finds. A mutant whose source another one has already written is left out,
    the first in the order of bug ID and site staying, as :func:`mutants_of` keeps them; the
    mutants are in its order too. An entry the cache held comes back from both searches alike."""
    if first == second:
        return first
    kept: list[dict[str, Any]] = []
    sources: set[str] = set()
    for fields in sorted(first["mutants"] + second["mutants"], key=lambda f: (f["bug_id"], f["site"])):
        if fields["source"] not in sources:
            sources.add(fields["source"])
            kept.append(fields)
    kept.sort(key=lambda f: (f["changed_lines"][0], f["bug_id"], f["site"]))
    return {"problems": sorted(first["problems"] + second["problems"]), "mutants": kept}


class TargetCache:
    def __init__(
        self, config: pytest.Config, files: Sequence[TargetFile], mutators: Sequence[Mutator]
    ) -> None:
        self.config = config
        self.files = list(files)
        self.mutators = list(mutators)
        self.cache = getattr(config, "cache", None)

    # -- mutants ---------------------------------------------------------------------------------

    def _stored_mutants(self) -> dict[str, Any]:
        stored = self.cache.get(MUTANTS_CACHE_KEY, {}) if self.cache is not None else {}
        return stored if isinstance(stored, dict) else {}

    def _key(self, target: TargetFile) -> str:
        parts = [__version__, target.display, target.source, *(m.bug_id for m in self.mutators)]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    def mutant_entries(
        self, *, compute: bool, mutators: Sequence[Mutator] | None = None
    ) -> tuple[Entries, list[str]]:
        """Per target file, its mutants as the cache keeps them, and the keys of the files the
        cache lacks (found here when ``compute``, with ``mutators`` when given, a part of the
        selected ones; left out otherwise)."""
        stored = self._stored_mutants()
        entries: Entries = {}
        missing: list[str] = []
        for target in self.files:
            key = self._key(target)
            entry = stored.get(key)
            if entry is None:
                missing.append(key)
                if not compute:
                    continue
                chosen = self.mutators if mutators is None else mutators
                found, problems = mutants_of(target, chosen, module_label=target.display)
                entry = {"problems": sorted(problems), "mutants": [_mutant_json(m) for m in found]}
            entries[key] = entry
        return entries, missing

    def mutants(self, entries: Entries | None = None) -> tuple[list[Mutant], list[str]]:
        """Every mutant of the targets and the problems met finding them (``entries``: as a
        child found them; otherwise from the cache, finding what it lacks); the cache is
        updated."""
        if entries is None:
            entries, _ = self.mutant_entries(compute=True)
        found: list[Mutant] = []
        problems: list[str] = []
        for target, entry in zip(self.files, entries.values(), strict=True):
            found.extend(
                Mutant(file=target, **{**fields, "changed_lines": tuple(fields["changed_lines"])})
                for fields in entry["mutants"]
            )
            problems.extend(entry["problems"])
        if self.cache is not None and entries != self._stored_mutants():
            self.cache.set(MUTANTS_CACHE_KEY, entries)
        return found, problems

    def find_meanwhile(self) -> Callable[[], tuple[list[Mutant], list[str]]] | None:
        """Start finding the mutants of files the cache does not hold in a forked child (libcst
        work, a core of its own) while this process collects; the function returned finds the
        rest itself and waits for the child's. The two searches share the work, every other
        selected mutator each: this process has nothing else to do until the mutants are known,
        and on two cores that halves the wait. ``None`` where the cache holds them all, or fork
        does not exist."""
        _, missing = self.mutant_entries(compute=False)
        if not missing or not hasattr(os, "fork"):
            return None
        theirs, ours = self.mutators[0::2], self.mutators[1::2]
        read_fd, write_fd = os.pipe()
        pid = fork_quietly()
        if pid == 0:  # the child: compute, write, leave without running any pytest hook
            status = 70
            try:
                os.close(read_fd)
                payload = json.dumps(self.mutant_entries(compute=True, mutators=theirs)[0]).encode()
                with os.fdopen(write_fd, "wb") as pipe:
                    pipe.write(payload)
                status = 0
            finally:
                os._exit(status)
        os.close(write_fd)

        def gather() -> tuple[list[Mutant], list[str]]:
            mine, _ = self.mutant_entries(compute=True, mutators=ours)
            with os.fdopen(read_fd, "rb") as pipe:
                payload = pipe.read()
            _, wait_status = os.waitpid(pid, 0)
            try:
                entries = json.loads(payload) if os.waitstatus_to_exitcode(wait_status) == 0 else None
            except ValueError:
                entries = None
            if not isinstance(entries, dict) or entries.keys() != mine.keys():
                return self.mutants(None)  # the child failed: every search here, as without fork
            return self.mutants({key: merged(entries[key], mine[key]) for key in mine})

        return gather

    # -- verdicts --------------------------------------------------------------------------------

    def tests_digest(self, items: Sequence[pytest.Item]) -> str:
        """Every project module loaded now (not installed packages), the test ids, the versions."""
        root = str(self.config.rootpath)
        digest = hashlib.sha256(f"{CACHE_FORMAT}\x1f{__version__}\x1f{sys.version}".encode())
        files = set()
        for module in list(sys.modules.values()):
            filename = getattr(module, "__file__", None)
            if filename and filename.endswith(".py"):
                real = realpath(filename)
                if real.startswith(root) and "site-packages" not in real:
                    files.add(real)
        files.update(str(t.path) for t in self.files)
        for filename in sorted(files):
            digest.update(filename.encode() + b"\x00")
            try:
                digest.update(Path(filename).read_bytes())
            except OSError:
                digest.update(b"<unreadable>")
        for item in items:
            digest.update(item.nodeid.encode() + b"\x00")
        return digest.hexdigest()

    def load(self, tests_digest: str) -> dict[str, Any]:
        """The clean run and the verdicts kept for these tests (``{}`` when they changed)."""
        if self.cache is None:
            return {}
        stored = self.cache.get(CACHE_KEY, None)
        if not isinstance(stored, dict) or stored.get("tests_digest") != tests_digest:
            return {}
        return stored

    def store(self, tests_digest: str, clean: CleanRun, verdicts: dict[str, Any]) -> None:
        if self.cache is not None:
            # xdist workers each add theirs (the last of two simultaneous writes wins: a verdict
            # lost from the cache is judged again next time, never wrong)
            verdicts = {**self.load(tests_digest).get("verdicts", {}), **verdicts}
            self.cache.set(
                CACHE_KEY, {"tests_digest": tests_digest, "clean": clean.to_json(), "verdicts": verdicts}
            )
