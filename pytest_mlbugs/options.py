"""Command-line options: names, help texts, and their validation into :class:`Settings`.

Every bad value becomes one :class:`pytest.UsageError` line that names the option and says what
to do (pytest prints it and exits with status 4); none becomes a traceback.
"""

from __future__ import annotations

import dataclasses
import random
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
LIST = "--mlbugs-list"
IMPL = "--mlbugs-impl"
TIMEOUT = "--mlbugs-timeout"
ISOLATION = "--mlbugs-isolation"

HELP = {
    SEED: "generate a session of buggy variants from this seed (a non-negative integer); "
    "the same seed gives the same variants everywhere",
    COUNT: "number of variants in the session (default: every selected mutator once)",
    MUTATORS: "comma-separated bug IDs to draw from (default: all; see --mlbugs-list)",
    COMPONENTS: "comma-separated components to mutate (default: all; see --mlbugs-list)",
    MAX_BUGS: "each variant carries between 1 and this many bugs at distinct sites (default 1)",
    REPORT: "write a JSON report (mutation-testing-report-schema) to this path",
    LIST: "print the catalogue of bugs and exit",
    IMPL: "run COMPONENT's property suite against your file: COMPONENT=PATH (repeatable)",
    TIMEOUT: "seconds a variant may take before its verdict is 'timeout' (default 60)",
    ISOLATION: "'fork' judges each variant in a forked child (default where fork exists); "
    "'none' judges in-process under a timer",
}

DEFAULT_TIMEOUT = 60.0


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
    group.addoption(LIST, dest="mlbugs_list", action="store_true", default=False, help=HELP[LIST])
    group.addoption(
        IMPL, dest="mlbugs_impl", metavar="COMPONENT=PATH", action="append", default=[], help=HELP[IMPL]
    )
    group.addoption(TIMEOUT, dest="mlbugs_timeout", metavar="SECONDS", default=None, help=HELP[TIMEOUT])
    group.addoption(ISOLATION, dest="mlbugs_isolation", metavar="MODE", default=None, help=HELP[ISOLATION])
    parser.addini("mlbugs_timeout", HELP[TIMEOUT], default=None)
    parser.addini("mlbugs_isolation", HELP[ISOLATION], default=None)


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
            opt.mlbugs_list,
            bool(opt.mlbugs_impl),
            opt.mlbugs_timeout is not None,
            opt.mlbugs_isolation is not None,
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

    @property
    def generates_variants(self) -> bool:
        """``--mlbugs-impl`` alone checks the user's files; anything else asks for variants."""
        return not self.impls

    def header(self) -> str:
        parts = [f"{SEED}={self.seed}"]
        if self.count is not None:
            parts.append(f"{COUNT}={self.count}")
        if self.max_bugs != 1:
            parts.append(f"{MAX_BUGS}={self.max_bugs}")
        return " ".join(parts)


def _integer(option: str, raw: str, *, minimum: int, what: str) -> int:
    text = raw.strip()
    if not text.lstrip("+").isdigit() and not (text.startswith("-") and text[1:].isdigit()):
        raise pytest.UsageError(f"{option}={raw}: not an integer; give {what}")
    value = int(text)
    if value < minimum:
        raise pytest.UsageError(f"{option}={raw}: must be at least {minimum}; give {what}")
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
        seed = _integer(SEED, opt.mlbugs_seed, minimum=0, what="a non-negative integer such as 42")
    elif seed_from_controller is not None:
        seed = seed_from_controller
    else:
        seed = random.SystemRandom().randrange(10**6)

    count = None
    if opt.mlbugs_count is not None:
        count = _integer(COUNT, opt.mlbugs_count, minimum=1, what="a number of variants of at least 1")
        if count > 1_000_000:
            raise pytest.UsageError(f"{COUNT}={opt.mlbugs_count}: at most 1000000 variants in one session")

    max_bugs = 1
    if opt.mlbugs_max_bugs is not None:
        max_bugs = _integer(MAX_BUGS, opt.mlbugs_max_bugs, minimum=1, what="a number of bugs of at least 1")
        if max_bugs > 16:
            raise pytest.UsageError(f"{MAX_BUGS}={opt.mlbugs_max_bugs}: at most 16 bugs per variant")

    components = tuple(sorted(registry.components))
    if opt.mlbugs_components is not None:
        components = _names(COMPONENTS, opt.mlbugs_components, known=components, kind="component")
    mutators = tuple(sorted(registry.mutators))
    if opt.mlbugs_mutators is not None:
        mutators = _names(MUTATORS, opt.mlbugs_mutators, known=mutators, kind="bug ID")

    report = None
    if opt.mlbugs_report is not None:
        if not opt.mlbugs_report.strip():
            raise pytest.UsageError(f"{REPORT}: empty path; give the path of a JSON file to write")
        report = Path(opt.mlbugs_report)
        if report.is_dir():
            raise pytest.UsageError(f"{REPORT}={opt.mlbugs_report}: is a directory; give a file path")
        if not report.parent.exists() and str(report.parent):
            raise pytest.UsageError(
                f"{REPORT}={opt.mlbugs_report}: folder {report.parent} does not exist; create it first"
            )

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
        impls.append((name.strip(), Path(path.strip())))

    raw_timeout = _ini_or_option(config, opt.mlbugs_timeout, "mlbugs_timeout")
    timeout = DEFAULT_TIMEOUT
    if raw_timeout is not None:
        try:
            timeout = float(raw_timeout)
        except ValueError:
            raise pytest.UsageError(f"{TIMEOUT}={raw_timeout}: not a number; give seconds, e.g. 30") from None
        if not timeout > 0 or timeout == float("inf"):
            raise pytest.UsageError(f"{TIMEOUT}={raw_timeout}: must be a positive number of seconds")

    isolation = _ini_or_option(config, opt.mlbugs_isolation, "mlbugs_isolation") or "fork"
    if isolation not in ("fork", "none"):
        raise pytest.UsageError(f"{ISOLATION}={isolation}: choose 'fork' or 'none'")

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
    )
