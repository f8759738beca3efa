"""A person's judgement of each review sample of ``bench_corpus.py``, keyed by sample ID.

Each sample is one written variant: a mutator's rewrite of one site of a real file. The reviewer
read its diff in its file and recorded two answers: is the rewrite the bug the variant claims
(its description, which may be more precise than the mutator's for that site), and does it
change behaviour (not equivalent as written, and not a rewrite that can only crash where a
silent bug is claimed). A sample is precise when both are yes. IDs hash the file, the bug ID and
the diff, so a rewrite that changes is judged again.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Judgement:
    claims_its_bug: bool
    changes_behaviour: bool
    note: str = ""

    @property
    def precise(self) -> bool:
        return self.claims_its_bug and self.changes_behaviour


def _ok(note: str = "") -> Judgement:
    return Judgement(True, True, note)


def _off(note: str) -> Judgement:
    """The rewrite changes behaviour, but it is not the bug it claims."""
    return Judgement(False, True, note)


def _same(note: str) -> Judgement:
    """The bug it claims, but equivalent as written (or only able to crash)."""
    return Judgement(True, False, note)


REVIEW: dict[str, Judgement] = {}
