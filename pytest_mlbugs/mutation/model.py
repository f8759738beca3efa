"""The vocabulary of the engine: mutators, their examples and sites, and their errors."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from typing import ClassVar, Union

import libcst as cst

from pytest_mlbugs.mutation.context import SiteContext, current_context

Replacement = Union[cst.CSTNode, cst.RemovalSentinel, cst.FlattenSentinel]  # noqa: UP007 (a runtime alias)


@dataclasses.dataclass(frozen=True)
class Rewrite:
    """A replacement that names the bug it writes at this site.

    A mutator returns one in place of a bare node when its site's surroundings make another
    description truer than the mutator's own ``description``: the dropout that
    ``pe_dropout_skipped`` removes inside attention is "attention dropout skipped". The engine
    unwraps it; the description reaches :attr:`Site.description` and the variant's bugs.
    """

    node: Replacement
    description: str


class Category(str, enum.Enum):
    """Where a bug lives, in the words of the debugging guide."""

    DATA = "data"
    TARGET = "target"
    OBJECTIVE = "objective"
    SHAPES = "shapes"
    NUMERICS = "numerics"
    OPTIMIZATION = "optimization"
    EVALUATION = "evaluation"
    STATE_DEVICE = "state/device"


class Layer(str, enum.Enum):
    """The ordered debugging procedure: look at the data first, the evaluation last."""

    DATA = "data"
    TARGET = "target"
    SHAPES = "shapes"
    LOSS = "loss"
    NUMERICS = "numerics"
    UPDATES = "updates"
    EVALUATION = "evaluation"

    @property
    def step(self) -> int:
        return list(Layer).index(self) + 1


@dataclasses.dataclass(frozen=True)
class Example:
    """``before`` becomes ``after`` when the mutator is applied at site ``site`` of ``before``."""

    before: str
    after: str
    site: int = 0


@dataclasses.dataclass(frozen=True)
class Site:
    """One place in one source where one mutator can write its bug."""

    bug_id: str
    index: int
    alternative: int
    start_line: int
    start_column: int
    end_line: int
    end_column: int
    #: the bug written at this site: the mutator's ``description``, or the one its
    #: :class:`Rewrite` gave for this context
    description: str = ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.bug_id, self.index)

    def overlaps(self, other: Site) -> bool:
        return not (
            (self.end_line, self.end_column) <= (other.start_line, other.start_column)
            or (other.end_line, other.end_column) <= (self.start_line, self.start_column)
        )


class MutatorError(Exception):
    """A mutator raised or produced something unusable; names the mutator."""

    def __init__(self, bug_id: str, message: str) -> None:
        super().__init__(f"mutator {bug_id}: {message}")
        self.bug_id = bug_id
        #: the message without the mutator's name
        self.reason = message


class Mutator:
    """Base class of every bug category.

    Subclasses set the class attributes below and implement :meth:`mutations`. The class
    docstring is the catalogue entry: why the bug happens in real code and how it hides.
    """

    bug_id: ClassVar[str]
    #: components (contracts of docs/contracts.md) whose references contain at least one site
    components: ClassVar[tuple[str, ...]]
    category: ClassVar[Category]
    #: the step of the debugging procedure where a person would find it
    layer: ClassVar[Layer]
    #: one line, as printed by ``--mlbugs-list``
    description: ClassVar[str]
    #: what a person sees in training ("loss is flat", "NaN after a few steps")
    symptom: ClassVar[str]
    hint: ClassVar[str]
    fix: ClassVar[str]
    #: loud bugs crash or produce NaN; silent ones train on, only worse
    loud: ClassVar[bool] = False
    #: for a bug that only a device other than the CPU reveals: how a test on the CPU can still
    #: catch it (printed with a survivor of target mode); empty for every other bug
    cpu_check: ClassVar[str] = ""
    #: node classes worth offering to :meth:`mutations`; narrows the traversal
    node_types: ClassVar[tuple[type[cst.CSTNode], ...]] = (cst.CSTNode,)
    EXAMPLES: ClassVar[Sequence[Example]] = ()
    UNCHANGED: ClassVar[Sequence[str]] = ()
    #: where the mutator came from: "pytest-mlbugs", a conftest path or a distribution
    origin: ClassVar[str] = "pytest-mlbugs"

    def mutations(self, node: cst.CSTNode) -> Sequence[Replacement | Rewrite]:
        """Return the buggy replacements for ``node``; an empty sequence when it is no site.

        A :class:`Rewrite` in place of a node names the bug written at this site when that is
        more precise than ``description``.
        """
        raise NotImplementedError

    @property
    def context(self) -> SiteContext:
        """The surroundings of the node :meth:`mutations` is looking at (empty outside the
        engine)."""
        return current_context()

    @classmethod
    def explanation(cls) -> str:
        return " ".join((cls.__doc__ or "").split())
