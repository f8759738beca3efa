"""The verdict model: what judging an implementation can conclude, in one place.

Every mode speaks it: a seeded session's variants and references, ``--mlbugs-impl``, practice
grading, ``--mlbugs-check-mutators`` and target mode's mutants. A verdict travels as JSON (from
a forked child, from an xdist worker, into reports), so :class:`Status` is a ``str`` enum whose
values are the words the reports have always used.

Only a property (or, in target mode, a user's test) that really failed makes a ``detected``; an
implementation that cannot be imported, a crash of the harness or a hang is an ``error`` or a
``timeout``, never a detection.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


class Status(str, enum.Enum):
    """How a job ended. Variants and mutants end ``detected``/``survived``/``timeout``/``error``;
    a reference (every property must hold) ends ``passed`` or ``failed``."""

    DETECTED = "detected"
    SURVIVED = "survived"
    TIMEOUT = "timeout"
    ERROR = "error"
    PASSED = "passed"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


#: how a variant or a mutant can end, in the order tables show them
OUTCOMES = (Status.DETECTED, Status.SURVIVED, Status.TIMEOUT, Status.ERROR)


class HarnessError(Exception):
    """The harness, not the implementation, went wrong: never counted as a detection."""


@dataclasses.dataclass
class PropertyFailure:
    """A property (or a test) that failed: its name, the first line of the failure, the case."""

    property: str
    message: str
    case: str


@dataclasses.dataclass
class BugVerdict:
    """How the suite sees one bug of a variant of several, judged on the reference with that
    bug alone: whether the suite tells it apart from the others."""

    #: the verdict on the bug alone: detected, survived, timeout or error
    alone: Status
    #: the property that caught the bug alone
    caught_by: str | None = None
    #: whether the case that failed on the whole variant fails on this bug alone too: the
    #: variant's failure points to this bug
    pointed_to: bool = False

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "alone": self.alone.value}


@dataclasses.dataclass
class Verdict:
    status: Status
    seconds: float
    #: the first failing property (variants) or every failing one (references)
    failures: list[PropertyFailure] = dataclasses.field(default_factory=list)
    detail: str = ""
    #: a variant of several bugs: each bug judged alone, in the variant's order of bugs
    bugs: list[BugVerdict] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "status": self.status.value,
            "bugs": [bug.to_json() for bug in self.bugs],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        failures = [PropertyFailure(**f) for f in data.get("failures", [])]
        bugs = [BugVerdict(**{**b, "alone": Status(b["alone"])}) for b in data.get("bugs", [])]
        return cls(Status(data["status"]), data["seconds"], failures, data.get("detail", ""), bugs)


def first_line(exc: BaseException) -> str:
    """``ExceptionType: the first line of its message``, as verdicts and reports quote it."""
    text = str(exc).strip().splitlines()
    head = text[0] if text else ""
    return f"{type(exc).__name__}: {head}" if head else type(exc).__name__
