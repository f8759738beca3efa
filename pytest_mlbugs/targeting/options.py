"""The options of ``--mlbugs-target`` and their checks: cheap to import (every pytest run
reads them through :mod:`pytest_mlbugs.plugin`)."""

from __future__ import annotations

from pathlib import Path

import pytest

TARGET = "--mlbugs-target"
FAIL_UNDER = "--mlbugs-fail-under"
PLUGIN_NAME = "mlbugs-target"

HELP = {
    TARGET: "mutation-test your own code: a Python file, a package folder or a dotted module name "
    "(repeatable); your collected tests run against every mutant",
    FAIL_UNDER: "with --mlbugs-target, fail the run when the detection score is below PCT (0-100)",
}


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlbugs")
    group.addoption(TARGET, dest="mlbugs_target", metavar="PATH|MODULE", action="append", default=[],
                    help=HELP[TARGET])  # fmt: skip
    group.addoption(FAIL_UNDER, dest="mlbugs_fail_under", metavar="PCT", default=None, help=HELP[FAIL_UNDER])


def requested(config: pytest.Config) -> bool:
    return bool(config.option.mlbugs_target) or config.option.mlbugs_fail_under is not None


def fail_under(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise pytest.UsageError(f"{FAIL_UNDER}={raw}: not a number; give a percentage such as 80") from None
    if not 0 <= value <= 100:
        raise pytest.UsageError(f"{FAIL_UNDER}={raw}: must be between 0 and 100")
    return value


def check_target(raw: str) -> str:
    text = raw.strip()
    if not text:
        raise pytest.UsageError(f"{TARGET}: empty; give a Python file, a package folder or a module name")
    path = Path(text)
    looks_like_path = text.endswith(".py") or "/" in text or "\\" in text or path.exists()
    if looks_like_path:
        if not path.exists():
            raise pytest.UsageError(f"{TARGET}={raw}: {path} does not exist; give a Python file or a folder")
        if path.is_file() and path.suffix != ".py":
            raise pytest.UsageError(f"{TARGET}={raw}: not a .py file; give Python source")
        return text
    if not all(part.isidentifier() for part in text.split(".")):
        raise pytest.UsageError(f"{TARGET}={raw}: neither a path nor a dotted module name")
    return text
