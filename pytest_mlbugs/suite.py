"""Property suites: one per contract, a list of Hypothesis properties over an implementation.

A property is a plain function ``check(impl, case)`` plus the strategy that draws ``case``.
The runner, not the property, decides how Hypothesis runs it: verdicts on generated variants
run few examples without shrinking; ``--mlbugs-impl`` runs more and shrinks, because a person
will read the counterexample. ``impl`` is a module (or any namespace) exposing the names the
contract defines; a property reads nothing else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import strategies as st

from pytest_mlbugs.mutation import Layer

Check = Callable[..., None]


class ContractMismatch(AssertionError):
    """The implementation lacks what its contract requires of its shape (a submodule of some
    kind, a projection's bias): a property failure, which ``--mlbugs-impl`` and practice
    grading report as the file not meeting the contract rather than as wrong behaviour."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`ContractMismatch` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ContractMismatch(message)


@dataclasses.dataclass(frozen=True)
class Property:
    """One checkable promise of a contract."""

    name: str
    component: str
    check: Check
    #: draws the ``case`` argument; ``None`` for a property that needs no input
    cases: st.SearchStrategy[Any] | None
    layer: Layer
    #: what a person would see in training when this property fails
    symptom: str
    #: what a failure means, in one or two sentences (the check's docstring)
    meaning: str
    #: cases tried first, before anything is generated (Hypothesis' explicit phase)
    explicit: tuple[Any, ...] = ()
    #: examples generated in a verdict; ``--mlbugs-impl`` runs several times more
    max_examples: int = 10

    @property
    def qualified_name(self) -> str:
        return f"{self.component}.{self.name}"

    @property
    def layer_line(self) -> str:
        """Where a failure sits in the ordered debugging procedure (data first, evaluation last)."""
        return f"debugging layer {self.layer.step} of {len(Layer)} ({self.layer.value})"

    def run_once(self, impl: Any, case: Any = None) -> None:
        """Check one case (or the case-free property) directly, outside Hypothesis."""
        if self.cases is None:
            self.check(impl)
        else:
            self.check(impl, case)


class Suite:
    """The property suite of one component (contract).

    ``names`` are the public names the contract requires an implementation to define;
    ``--mlbugs-impl`` refuses a file that misses one.
    """

    def __init__(self, component: str, *, names: Sequence[str], contract: str) -> None:
        if not component.isidentifier():
            raise ValueError(f"component name must be an identifier, got {component!r}")
        if not names:
            raise ValueError(f"suite {component!r} must name the contract's public names")
        self.component = component
        self.names = tuple(names)
        self.contract = contract
        self.properties: list[Property] = []

    def __repr__(self) -> str:
        return f"Suite({self.component!r}, {len(self.properties)} properties)"

    def property(
        self,
        *,
        layer: Layer,
        symptom: str,
        cases: st.SearchStrategy[Any] | None = None,
        explicit: Sequence[Any] = (),
        max_examples: int = 10,
    ) -> Callable[[Check], Check]:
        """Register the decorated ``check(impl, case)`` (or ``check(impl)``) as a property."""
        if max_examples < 1:
            raise ValueError(f"max_examples must be at least 1, got {max_examples}")
        if explicit and cases is None:
            raise ValueError("explicit cases need a `cases` strategy")

        def register(check: Check) -> Check:
            name = check.__name__
            if any(p.name == name for p in self.properties):
                raise ValueError(f"suite {self.component!r} already has a property {name!r}")
            meaning = " ".join((check.__doc__ or "").split())
            if not meaning:
                raise ValueError(
                    f"property {self.component}.{name} needs a docstring saying what a failure means"
                )
            self.properties.append(
                Property(
                    name=name,
                    component=self.component,
                    check=check,
                    cases=cases,
                    layer=layer,
                    symptom=symptom,
                    meaning=meaning,
                    explicit=tuple(explicit),
                    max_examples=max_examples,
                )
            )
            return check

        return register

    def missing_names(self, impl: Any) -> list[str]:
        return [name for name in self.names if not hasattr(impl, name)]
