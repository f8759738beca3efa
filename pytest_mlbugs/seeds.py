"""Seed derivation: every choice a seed makes, identical on every machine, process and worker.

Choices come from SHA-256 digests of labels (the seed and what is being chosen), never from
``random``'s global state, ``hash()`` or the order in which processes happen to run: the same
seed gives byte-identical variants, exercises and samples of mutants everywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def derive_seed(*parts: object) -> int:
    """A 64-bit integer from the parts, identical on every machine and process."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Pick:
    """Deterministic choices under one label: each draw is the digest of the label and the
    draw's number, so the n-th draw under a label is the same everywhere."""

    def __init__(self, *label: object) -> None:
        self.label = label
        self.draws = 0

    def below(self, n: int) -> int:
        """An integer in ``range(n)``."""
        self.draws += 1
        return derive_seed(*self.label, self.draws) % n

    def shuffled(self, items: Sequence[T]) -> list[T]:
        """``items`` in an order fixed by the label (each item ranked by its own digest)."""
        return sorted(items, key=lambda item: derive_seed(*self.label, "order", item))
