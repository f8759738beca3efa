"""How often a surface rule fires at a node: keyed by the seed, the rule and the node's own text
(never its position), so that a reference and a variant of it get the same spelling but at the bugs."""

from __future__ import annotations

from pytest_mlbugs.seeds import derive_seed


def fires(seed: int, rule: str, text: str, rate: int) -> bool:
    return derive_seed(seed, rule, text) % 256 < rate
