"""How precise the built-in mutators are on real code, run on demand (not part of the test suite).

    python benchmarks/bench_corpus.py                    # realcode/ only
    python benchmarks/bench_corpus.py CORPUS             # a corpus folder (or its files/) and realcode/
    python benchmarks/bench_corpus.py CORPUS --only corpus --show   # with the sample diffs

Two sets of files are checked: a corpus of real-world files, a folder given on the command line
(it is not part of the project and never shipped; without one only realcode/ runs), and
``benchmarks/realcode/``, files written for this project in the styles of other projects and
never used to tune the mutators. For every file, every site of every built-in mutator is
written as a single-site variant, as a session writes it, and checked:

- a mutator that raises, returns garbage or overruns its time limit is a *failure*;
- a variant that does not compile is *non-compiling*;
- a variant whose text, or whose AST, is the original's is *unchanged*.

Then up to ``--samples`` variants per mutator that fires (spread over the files) are the review
sample: each has a stable ID (a hash of its file, bug ID and diff), and ``corpus_review.py``
holds a person's judgement of it: is it the bug it claims (its description) at that site, and
does it change behaviour. The reviewed precision is the share of reviewed samples that are both.
A sample whose rewrite or description changed since it was judged gets a new ID and shows as
unreviewed.

Output: per set, the sites per mutator, the failures, the bad variants, the samples (with their
diffs under ``--show``) and their judgements, and one summary line per set::

    corpus: 20 files, 283 sites from 48 mutators, 0 mutator failures, 0 non-compiling, 0 unchanged;
    review: 130 samples, 130 judged, 124 the bug they claim and change behaviour (95.4 %)

Exit status 0 when every set has no failure, no bad variant and no unreviewed sample, else 1.
"""

from __future__ import annotations

import argparse
import ast
import collections
import dataclasses
import difflib
import hashlib
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # corpus_review, beside this script

from corpus_review import REVIEW, Judgement  # noqa: E402

REALCODE = HERE / "realcode"


@dataclasses.dataclass
class Sample:
    """One written variant, as the review sees it."""

    set_name: str
    file: str
    bug_id: str
    line: int
    description: str
    diff: str

    @property
    def sample_id(self) -> str:
        text = f"{self.file}\n{self.bug_id}\n{self.description}\n{self.diff}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclasses.dataclass
class SetResult:
    name: str
    files: int = 0
    sites: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    failures: list[str] = dataclasses.field(default_factory=list)
    noncompiling: list[str] = dataclasses.field(default_factory=list)
    unchanged: list[str] = dataclasses.field(default_factory=list)
    variants: dict[str, list[Sample]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list)
    )


def _diff(before: str, after: str, name: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), fromfile=name, tofile=name, n=2
    )
    return "".join(list(lines)[2:])


def check_set(name: str, files: list[Path]) -> SetResult:
    """Every site of every built-in mutator in ``files``, each written alone and checked."""
    warnings.filterwarnings("ignore")
    from pytest_mlbugs import api, mutation

    mutators = api.builtin_registry().sorted_mutators()
    by_id = {m.bug_id: m for m in mutators}
    result = SetResult(name)
    for path in files:
        source = path.read_text(encoding="utf-8")
        result.files += 1
        try:
            module = api.parse(source)
        except Exception as exc:
            result.failures.append(f"{path.name}: does not parse: {type(exc).__name__}")
            continue
        original = ast.dump(ast.parse(source))
        sites, broken = mutation.find_sites_isolating(module, mutators)
        result.failures += [f"{path.name}: {bug_id}: {reason}" for bug_id, reason in broken.items()]
        for bug_id, found in sorted(sites.items()):
            for site in found:
                result.sites[bug_id] += 1
                where = f"{path.name}:{site.start_line} {bug_id} site {site.index}"
                try:
                    code = mutation.apply_sites(module, {bug_id: by_id[bug_id]}, [site.key])
                except mutation.MutatorError as exc:
                    if "does not compile" in exc.reason:
                        result.noncompiling.append(f"{where}: {exc.reason}")
                    elif "unchanged" in exc.reason:
                        result.unchanged.append(f"{where}: text identical")
                    else:
                        result.failures.append(f"{where}: {exc.reason}")
                    continue
                if ast.dump(ast.parse(code)) == original:
                    result.unchanged.append(f"{where}: AST identical")
                    continue
                result.variants[bug_id].append(
                    Sample(
                        name,
                        path.name,
                        bug_id,
                        site.start_line,
                        site.description,
                        _diff(source, code, path.name),
                    )
                )
    return result


def pick_samples(variants: dict[str, list[Sample]], per_mutator: int) -> list[Sample]:
    """Up to ``per_mutator`` variants of each mutator, round-robin over the files it fired in
    (in each file: first, middle and last site first); deterministic."""
    picked: list[Sample] = []
    for bug_id in sorted(variants):
        by_file: dict[str, list[Sample]] = collections.defaultdict(list)
        for sample in variants[bug_id]:
            by_file[sample.file].append(sample)
        ordered = []
        for group in by_file.values():
            n = len(group)
            ordered.append([group[i] for i in dict.fromkeys([0, n // 2, n - 1, *range(n)])])
        depth = 0
        chosen: list[Sample] = []
        while len(chosen) < per_mutator and any(len(g) > depth for g in ordered):
            chosen += [g[depth] for g in ordered if len(g) > depth][: per_mutator - len(chosen)]
            depth += 1
        picked += chosen
    return picked


def _verdict(judgement: Judgement | None) -> str:
    if judgement is None:
        return "UNREVIEWED"
    if judgement.precise:
        return "ok"
    why = "not the bug it claims" if not judgement.claims_its_bug else "changes nothing"
    return f"NO ({why})"


def report(result: SetResult, samples: list[Sample], show: bool) -> tuple[str, bool]:
    """Print the set's tables; return its summary line and whether it is clean."""
    print(f"\n=== {result.name}: {result.files} files")
    print(f"  {'bug_id':40} {'sites':>6}")
    for bug_id, count in sorted(result.sites.items()):
        print(f"  {bug_id:40} {count:>6}")
    for title, rows in (
        ("mutator failures", result.failures),
        ("non-compiling variants", result.noncompiling),
        ("unchanged variants", result.unchanged),
    ):
        print(f"{title}: {len(rows)}")
        for row in rows:
            print(f"  {row}")
    print(f"review sample ({len(samples)} variants):")
    judged = precise = 0
    for sample in samples:
        judgement = REVIEW.get(sample.sample_id)
        judged += judgement is not None
        precise += judgement is not None and judgement.precise
        note = f"  [{judgement.note}]" if judgement is not None and judgement.note else ""
        print(
            f"  {sample.sample_id} {sample.bug_id} {sample.file}:{sample.line}: {_verdict(judgement)}"
            f" -- {sample.description}{note}"
        )
        if show:
            print("    " + sample.diff.replace("\n", "\n    ").rstrip())
    share = 100.0 * precise / judged if judged else 0.0
    fired = sum(1 for n in result.sites.values() if n)
    summary = (
        f"{result.name}: {result.files} files, {sum(result.sites.values())} sites from {fired} mutators, "
        f"{len(result.failures)} mutator failures, {len(result.noncompiling)} non-compiling, "
        f"{len(result.unchanged)} unchanged; review: {len(samples)} samples, {judged} judged, "
        f"{precise} the bug they claim and change behaviour ({share:.1f} %)"
    )
    clean = not (result.failures or result.noncompiling or result.unchanged) and judged == len(samples)
    return summary, clean


def _corpus_files(path: Path) -> list[Path]:
    folder = path / "files" if (path / "files").is_dir() else path
    return sorted(p for p in folder.glob("*.py") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "corpus", nargs="?", type=Path, help="a corpus folder of real-world files (none: realcode/ only)"
    )
    parser.add_argument("--only", choices=("corpus", "realcode"), help="check one set only")
    parser.add_argument("--samples", type=int, default=3, help="review samples per mutator (default 3)")
    parser.add_argument("--show", action="store_true", help="print the sample diffs")
    args = parser.parse_args(argv)

    sets: list[tuple[str, list[Path]]] = []
    if args.only in (None, "corpus"):
        if args.corpus is None:
            print(
                "no corpus given (a corpus folder can be given as an argument): realcode/ only",
                file=sys.stderr,
            )
            if args.only == "corpus":
                return 1
        else:
            files = _corpus_files(args.corpus) if args.corpus.is_dir() else []
            if not files:
                print(f"no corpus files in {args.corpus}", file=sys.stderr)
                return 1
            sets.append(("corpus", files))
    if args.only in (None, "realcode"):
        sets.append(("realcode", sorted(REALCODE.glob("*.py"))))
    summaries = []
    clean = True
    for name, files in sets:
        result = check_set(name, files)
        summary, ok = report(result, pick_samples(result.variants, args.samples), args.show)
        summaries.append(summary)
        clean = clean and ok
    print()
    for summary in summaries:
        print(summary)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
