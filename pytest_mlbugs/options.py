"""Command-line options: names, help texts, and their validation into :class:`Settings`.

Every bad value becomes one :class:`pytest.UsageError` line that names the option and says what
to do (pytest prints it and exits with status 4); none becomes a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # this module is imported by every pytest run: keep it light
    from pytest_mlbugs.registry import Registry

SEED = "--mlbugs-seed"
COUNT = "--mlbugs-count"
MUTATORS = "--mlbugs-mutators"
COMPONENTS = "--mlbugs-components"
MAX_BUGS = "--mlbugs-max-bugs"
REPORT = "--mlbugs-report"
HTML = "--mlbugs-html"
LIST = "--mlbugs-list"
IMPL = "--mlbugs-impl"
TIMEOUT = "--mlbugs-timeout"
ISOLATION = "--mlbugs-isolation"
SHARD = "--mlbugs-shard"
MEMORY_LIMIT = "--mlbugs-memory-limit"
DEVICE = "--mlbugs-device"
SHOW = "--mlbugs-show"

HELP = {
    SEED: "generate a session of buggy variants from this seed (a non-negative integer); "
    "the same seed gives the same variants everywhere",
    COUNT: "number of variants in the session (default: every selected mutator once); no two are the "
    "same: past the selection's distinct variants of at most --mlbugs-max-bugs bugs come variants of "
    "more bugs, and a selection with fewer variants than N gives each once and says so",
    MUTATORS: "comma-separated bug IDs to draw from (default: all; see --mlbugs-list)",
    COMPONENTS: "comma-separated components to mutate (default: all; see --mlbugs-list)",
    MAX_BUGS: "each variant the seed draws carries between 1 and this many bugs at distinct sites, from "
    "different bug families where the component has them, and each bug is judged alone too (default 1); "
    "a variant carries more only once every variant of at most this many bugs is in the session",
    REPORT: "write a JSON report (mutation-testing-report-schema) to this path",
    HTML: "write an HTML report to DIR/index.html: the score, the table, each mutant on its source; "
    "one self-contained file that opens from disk without a network",
    LIST: "print the catalogue of bugs and exit",
    IMPL: "run COMPONENT's property suite against your file: COMPONENT=PATH (repeatable)",
    TIMEOUT: "seconds a variant may take before its verdict is 'timeout' (default 60)",
    ISOLATION: "'worker' judges variants in reused forked workers that retire at the first change "
    "of global state (default where fork exists); 'fork' forks a fresh child per variant; "
    "'none' judges in-process under a timer",
    SHARD: "judge only shard I of N (1 <= I <= N) of the session's variants, for CI matrices; "
    "merge the shards' reports with python -m pytest_mlbugs.merge_reports",
    DEVICE: "run the suites (references, variants, --mlbugs-impl) on this device: cpu (default), "
    "cuda or cuda:N; where it does not exist the items are skipped, with the reason",
    MEMORY_LIMIT: "MiB of memory a forked variant may map beyond what it inherits "
    "(default 4096; 0 for no limit)",
    SHOW: "print one variant's or mutant's diff and verdict from the last run (or from --mlbugs-report's "
    "file) and exit, running nothing: its ID, item name or node ID",
}

DEFAULT_TIMEOUT = 60.0
DEFAULT_MEMORY_LIMIT_MIB = 4096  # isolation.DEFAULT_MEMORY_LIMIT_MIB; not imported: this module stays light
#: the largest values accepted, so that a typo fails at once instead of overflowing later
MAX_SEED = 2**64 - 1
MAX_TIMEOUT = 7 * 24 * 3600.0
MAX_SHARDS = 10_000
MAX_MEMORY_LIMIT_MIB = 1 << 30
#: a user implementation larger than this is not a Python module someone wrote by hand
MAX_IMPL_BYTES = 10 * 1024 * 1024


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlbugs", "pytest-mlbugs: seeded ML bugs and the properties that catch them")
    group.addoption(SEED, dest="mlbugs_seed", metavar="N", default=None, help=HELP[SEED])
    group.addoption(COUNT, dest="mlbugs_count", metavar="N", default=None, help=HELP[COUNT])
    group.addoption(MUTATORS, dest="mlbugs_mutators", metavar="ID,...", default=None, help=HELP[MUTATORS])
    group.addoption(
        COMPONENTS, dest="mlbugs_components", metavar="NAME,...", default=None, help=HELP[COMPONENTS]
    )
    group.addoption(MAX_BUGS, dest="mlbugs_max_bugs", metavar="K", default=None, help=HELP[MAX_BUGS])
    group.addoption(REPORT, dest="mlbugs_report", metavar="PATH", default=None, help=HELP[REPORT])
    group.addoption(HTML, dest="mlbugs_html", metavar="DIR", default=None, help=HELP[HTML])
    group.addoption(LIST, dest="mlbugs_list", action="store_true", default=False, help=HELP[LIST])
    group.addoption(
        IMPL, dest="mlbugs_impl", metavar="COMPONENT=PATH", action="append", default=[], help=HELP[IMPL]
    )
    group.addoption(TIMEOUT, dest="mlbugs_timeout", metavar="SECONDS", default=None, help=HELP[TIMEOUT])
    group.addoption(ISOLATION, dest="mlbugs_isolation", metavar="MODE", default=None, help=HELP[ISOLATION])
    group.addoption(SHARD, dest="mlbugs_shard", metavar="I/N", default=None, help=HELP[SHARD])
    group.addoption(
        MEMORY_LIMIT, dest="mlbugs_memory_limit", metavar="MIB", default=None, help=HELP[MEMORY_LIMIT]
    )
    parser.addini("mlbugs_timeout", HELP[TIMEOUT], default=None)
    parser.addini("mlbugs_isolation", HELP[ISOLATION], default=None)
    parser.addini("mlbugs_memory_limit", HELP[MEMORY_LIMIT], default=None)
    group.addoption(DEVICE, dest="mlbugs_device", metavar="DEVICE", default=None, help=HELP[DEVICE])
    parser.addini("mlbugs_device", HELP[DEVICE], default=None)
    group.addoption(SHOW, dest="mlbugs_show", metavar="ID", default=None, help=HELP[SHOW])


def requested(config: pytest.Config) -> bool:
    """Whether any ``--mlbugs-*`` option was given: without one the plugin does nothing."""
    opt = config.option
    return any(
        (
            opt.mlbugs_seed is not None,
            opt.mlbugs_count is not None,
            opt.mlbugs_mutators is not None,
            opt.mlbugs_components is not None,
            opt.mlbugs_max_bugs is not None,
            opt.mlbugs_report is not None,
            opt.mlbugs_html is not None,
            opt.mlbugs_list,
            bool(opt.mlbugs_impl),
            opt.mlbugs_timeout is not None,
            opt.mlbugs_isolation is not None,
            opt.mlbugs_shard is not None,
            opt.mlbugs_memory_limit is not None,
            getattr(opt, "mlbugs_device", None) is not None,
        )
    )


@dataclasses.dataclass(frozen=True)
class Settings:
    seed: int
    seed_was_given: bool
    count: int | None
    mutators: tuple[str, ...]
    components: tuple[str, ...]
    max_bugs: int
    report: Path | None
    impls: tuple[tuple[str, Path], ...]
    timeout: float
    isolation: str
    #: ``(index, total)``, 1-based, or ``None`` for the whole session
    shard: tuple[int, int] | None = None
    memory_limit_mib: int = DEFAULT_MEMORY_LIMIT_MIB
    #: ``--mlbugs-device``: "cpu", "cuda" or "cuda:N"
    device: str = "cpu"
    #: whether --mlbugs-mutators / --mlbugs-components narrowed the selection (the header says so)
    mutators_given: bool = False
    components_given: bool = False
    #: ``--mlbugs-html``: the folder of the HTML report's index.html
    html: Path | None = None

    @property
    def generates_variants(self) -> bool:
        """``--mlbugs-impl`` alone checks the user's files; anything else asks for variants."""
        return not self.impls

    def header(self) -> str:
        """Every option that shapes the plan, pasteable: the same command gives the same variants."""
        parts = [f"{SEED}={self.seed}"]
        if self.components_given:
            parts.append(f"{COMPONENTS}={','.join(self.components)}")
        if self.mutators_given:
            parts.append(f"{MUTATORS}={','.join(self.mutators)}")
        if self.count is not None:
            parts.append(f"{COUNT}={self.count}")
        if self.max_bugs != 1:
            parts.append(f"{MAX_BUGS}={self.max_bugs}")
        if self.shard is not None:
            parts.append(f"{SHARD}={self.shard[0]}/{self.shard[1]}")
        if self.device != "cpu":
            parts.append(f"{DEVICE}={self.device}")
        return " ".join(parts)

    def in_shard(self, ordinal: int) -> bool:
        """Whether the variant at ``ordinal`` (0-based, in session order) is this shard's: round
        robin, so every shard gets every component and its share of slow variants."""
        return self.shard is None or ordinal % self.shard[1] == self.shard[0] - 1


_INTEGER = re.compile(r"[+-]?[0-9]{1,30}")


def _integer(option: str, raw: str, *, minimum: int, what: str, maximum: int | None = None) -> int:
    text = str(raw).strip()
    if not _INTEGER.fullmatch(text):
        raise pytest.UsageError(f"{option}={raw}: not an integer; give {what}")
    value = int(text)
    if value < minimum:
        raise pytest.UsageError(f"{option}={raw}: must be at least {minimum}; give {what}")
    if maximum is not None and value > maximum:
        raise pytest.UsageError(f"{option}={raw}: must be at most {maximum}; give {what}")
    return value


def _names(option: str, raw: str, *, known: Sequence[str], kind: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if not names:
        raise pytest.UsageError(f"{option}={raw!r}: the list is empty; name at least one {kind} (see {LIST})")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise pytest.UsageError(
            f"{option}: unknown {kind} {', '.join(unknown)}; run pytest {LIST} to see the {kind}s"
        )
    return names


def _ini_or_option(config: pytest.Config, option_value: Any, ini_name: str) -> Any:
    if option_value is not None:
        return option_value
    value = config.getini(ini_name)
    return value or None


def parse_settings(
    config: pytest.Config, registry: Registry, *, seed_from_controller: int | None
) -> Settings:
    opt = config.option
    if opt.mlbugs_seed is not None:
        seed = _integer(
            SEED, opt.mlbugs_seed, minimum=0, maximum=MAX_SEED, what="a non-negative integer such as 42"
        )
    elif seed_from_controller is not None:
        seed = seed_from_controller
    else:
        seed = random.SystemRandom().randrange(10**6)

    count = None
    if opt.mlbugs_count is not None:
        count = _integer(
            COUNT, opt.mlbugs_count, minimum=1, maximum=1_000_000, what="a number of variants up to 1000000"
        )

    max_bugs = 1
    if opt.mlbugs_max_bugs is not None:
        max_bugs = _integer(
            MAX_BUGS, opt.mlbugs_max_bugs, minimum=1, maximum=16, what="a number of bugs per variant, 1 to 16"
        )

    components = tuple(sorted(registry.components))
    if opt.mlbugs_components is not None:
        components = _names(COMPONENTS, opt.mlbugs_components, known=components, kind="component")
    mutators = tuple(sorted(registry.mutators))
    if opt.mlbugs_mutators is not None:
        mutators = _names(MUTATORS, opt.mlbugs_mutators, known=mutators, kind="bug ID")

    report = None if opt.mlbugs_report is None else report_path(opt.mlbugs_report)
    html = None if opt.mlbugs_html is None else html_folder(opt.mlbugs_html)

    impls = []
    for raw in opt.mlbugs_impl:
        name, sep, path = raw.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise pytest.UsageError(
                f"{IMPL}={raw}: expected COMPONENT=PATH, e.g. {IMPL}=attention=my_attention.py"
            )
        if name.strip() not in registry.components:
            raise pytest.UsageError(
                f"{IMPL}: unknown component {name.strip()}; one of {', '.join(sorted(registry.components))}"
            )
        impls.append((name.strip(), _impl_path(Path(path.strip()))))

    raw_timeout = _ini_or_option(config, opt.mlbugs_timeout, "mlbugs_timeout")
    timeout = DEFAULT_TIMEOUT
    if raw_timeout is not None:
        try:
            timeout = float(raw_timeout)
        except ValueError:
            raise pytest.UsageError(f"{TIMEOUT}={raw_timeout}: not a number; give seconds, e.g. 30") from None
        if not 0 < timeout <= MAX_TIMEOUT:
            raise pytest.UsageError(
                f"{TIMEOUT}={raw_timeout}: must be a positive number of seconds, at most {MAX_TIMEOUT:g}"
            )

    isolation = _ini_or_option(config, opt.mlbugs_isolation, "mlbugs_isolation")
    isolation = "worker" if isolation is None else str(isolation).strip()
    if isolation not in ("worker", "fork", "none"):
        raise pytest.UsageError(f"{ISOLATION}={isolation}: choose 'worker', 'fork' or 'none'")

    shard = None if opt.mlbugs_shard is None else parse_shard(opt.mlbugs_shard)

    raw_memory = _ini_or_option(config, opt.mlbugs_memory_limit, "mlbugs_memory_limit")
    memory_limit_mib = DEFAULT_MEMORY_LIMIT_MIB
    if raw_memory is not None:
        memory_limit_mib = _integer(
            MEMORY_LIMIT,
            raw_memory,
            minimum=0,
            maximum=MAX_MEMORY_LIMIT_MIB,
            what="MiB, e.g. 4096, or 0 for no limit",
        )

    device = parse_device(_ini_or_option(config, getattr(opt, "mlbugs_device", None), "mlbugs_device"))
    if device != "cpu":
        for mode, dest in (
            ("--mlbugs-check-mutators", "mlbugs_check_mutators"),
            ("--mlbugs-target", "mlbugs_target"),
        ):
            if config.getoption(dest, default=None):
                raise pytest.UsageError(f"{DEVICE}={device}: not supported with {mode} yet; leave it out")
        # The references run in this process first, which starts CUDA here; a forked child
        # cannot use CUDA after that, so variants are judged in-process on a GPU.
        if str(_ini_or_option(config, opt.mlbugs_isolation, "mlbugs_isolation") or "none").strip() != "none":
            raise pytest.UsageError(
                f"{DEVICE}={device}: a forked child cannot use CUDA once this process has; "
                f"use {ISOLATION}=none (the default with a CUDA device)"
            )
        isolation = "none"

    return Settings(
        seed=seed,
        seed_was_given=opt.mlbugs_seed is not None,
        count=count,
        mutators=mutators,
        components=components,
        max_bugs=max_bugs,
        report=report,
        impls=tuple(impls),
        timeout=timeout,
        isolation=isolation,
        shard=shard,
        memory_limit_mib=memory_limit_mib,
        device=device,
        mutators_given=opt.mlbugs_mutators is not None,
        components_given=opt.mlbugs_components is not None,
        html=html,
    )


_DEVICE = re.compile(r"cpu|cuda(?::([0-9]{1,4}))?")


def parse_device(raw: Any) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` (normalized); anything else is a usage error."""
    if raw is None:
        return "cpu"
    text = str(raw).strip()
    match = _DEVICE.fullmatch(text)
    if match is None:
        raise pytest.UsageError(f"{DEVICE}={raw}: unknown device; choose cpu, cuda or cuda:N (N a GPU index)")
    return text if match.group(1) is None else f"cuda:{int(match.group(1))}"


def parse_shard(raw: str) -> tuple[int, int]:
    """``"I/N"`` as ``(I, N)`` with ``1 <= I <= N``."""
    index, sep, total = str(raw).partition("/")
    if not sep:
        raise pytest.UsageError(
            f"{SHARD}={raw}: expected I/N, e.g. {SHARD}=1/3 for the first of three shards"
        )
    what = "I/N with 1 <= I <= N, e.g. 1/3"
    shards = _shard_number(raw, total, what=what)
    position = _shard_number(raw, index, what=what)
    if position > shards:
        raise pytest.UsageError(f"{SHARD}={raw}: shard {position} of {shards} does not exist; give {what}")
    return position, shards


def _shard_number(raw: str, text: str, *, what: str) -> int:
    if not _INTEGER.fullmatch(text.strip()):
        raise pytest.UsageError(f"{SHARD}={raw}: not I/N with whole numbers; give {what}")
    value = int(text)
    if not 1 <= value <= MAX_SHARDS:
        raise pytest.UsageError(f"{SHARD}={raw}: shard numbers run from 1 to {MAX_SHARDS}; give {what}")
    return value


def report_path(raw: str) -> Path:
    """The ``--mlbugs-report`` path, refused where writing it could destroy something else."""
    if not raw.strip():
        raise pytest.UsageError(f"{REPORT}: empty path; give the path of a JSON file to write")
    report = Path(raw)
    if report.is_dir():
        raise pytest.UsageError(f"{REPORT}={raw}: is a directory; give a file path")
    folder = report.parent
    if not folder.exists():
        raise pytest.UsageError(f"{REPORT}={raw}: folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise pytest.UsageError(f"{REPORT}={raw}: {folder} is not a folder; give a path inside a folder")
    if not os.access(folder, os.W_OK):
        raise pytest.UsageError(f"{REPORT}={raw}: folder {folder} is not writable; choose another path")
    if report.exists() and not _is_our_report(report):
        raise pytest.UsageError(
            f"{REPORT}={raw}: the file exists and is not a pytest-mlbugs report; "
            "choose another path (it will not be overwritten)"
        )
    return report


#: the line by which ``--mlbugs-html`` knows an index.html it may overwrite (reports.html writes it)
HTML_MARKER = '<meta name="generator" content="pytest-mlbugs">'
#: where the marker must be: in the page's head
HTML_MARKER_WITHIN = 2048


def html_folder(raw: str) -> Path:
    """The ``--mlbugs-html`` folder: made at the end of the run if its parent exists, and
    refused where writing its index.html could destroy something that is not ours."""
    if not raw.strip():
        raise pytest.UsageError(f"{HTML}: empty path; give a folder to write index.html into")
    folder = Path(raw)
    if folder.exists() and not folder.is_dir():
        raise pytest.UsageError(
            f"{HTML}={raw}: is a file, not a folder; give a folder to write index.html into"
        )
    if not folder.exists():
        parent = folder.parent
        if not parent.is_dir():
            raise pytest.UsageError(f"{HTML}={raw}: folder {parent} does not exist; create it first")
        if not os.access(parent, os.W_OK):
            raise pytest.UsageError(f"{HTML}={raw}: folder {parent} is not writable; choose another folder")
        return folder
    if not os.access(folder, os.W_OK):
        raise pytest.UsageError(f"{HTML}={raw}: folder {folder} is not writable; choose another folder")
    index = folder / "index.html"
    if (index.exists() or index.is_symlink()) and not _is_our_page(index):
        raise pytest.UsageError(
            f"{HTML}={raw}: {index} exists and is not a pytest-mlbugs report; "
            "choose another folder (it will not be overwritten)"
        )
    return folder


def _is_our_page(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with path.open("rb") as stream:
            head = stream.read(HTML_MARKER_WITHIN)
    except OSError:
        return False
    return HTML_MARKER.encode() in head


def _is_our_report(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "mlbugs" in data and data.get("schemaVersion") == "2"


def _impl_path(path: Path) -> Path:
    """Refuse what reading would hang on or exhaust memory with (a FIFO, ``/dev/zero``, a
    huge file); the loader names every other way a file can be unusable."""
    if path.exists() and not path.is_dir():
        if not path.is_file():
            raise pytest.UsageError(f"{IMPL}: {path} is not a regular file; give the path of a Python file")
        if path.stat().st_size > MAX_IMPL_BYTES:
            raise pytest.UsageError(
                f"{IMPL}: {path} is larger than {MAX_IMPL_BYTES // (1024 * 1024)} MiB; "
                "give the path of a Python source file"
            )
    return path


def seed_from_controller(config: pytest.Config) -> int | None:
    """The seed an xdist controller gave this worker (``workerinput``); ``None`` elsewhere."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return None
    seed = workerinput.get("mlbugs_seed")
    return None if seed is None else int(seed)
