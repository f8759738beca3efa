"""The options of practice mode and their names: cheap to import (every pytest run reads
them through :mod:`pytest_mlbugs.plugin`)."""

from __future__ import annotations

import pytest

PRACTICE = "--mlbugs-practice"
DIFFICULTY = "--mlbugs-difficulty"
HINT = "--mlbugs-hint"
REVEAL = "--mlbugs-reveal"
INTERVIEW = "--mlbugs-interview"
PRACTICE_NEW = "--mlbugs-practice-new"

DEFAULT_FOLDER = "mlbugs-practice"
PLUGIN_NAME = "mlbugs-practice"

HELP = {
    PRACTICE: f"write practice exercises into this folder (default {DEFAULT_FOLDER}/) and grade "
    "them on later runs; `pytest DIR` grades them too",
    DIFFICULTY: "easy (one loud bug), medium (one or two bugs, default) or hard (two or three "
    "silent bugs, no docstrings)",
    HINT: "one more hint for this exercise: layer, then symptom, then function, then line",
    REVEAL: "give up on this exercise: print each bug's ID, line, diff and explanation",
    INTERVIEW: "pick one exercise for the seed and print the prompt an interviewee would get",
    PRACTICE_NEW: "move the folder's exercises of another seed aside (never deleted) and start afresh",
}


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("mlbugs")
    group.addoption(
        PRACTICE, dest="mlbugs_practice", metavar="DIR", nargs="?", const=DEFAULT_FOLDER, default=None,
        help=HELP[PRACTICE],
    )  # fmt: skip
    group.addoption(
        DIFFICULTY, dest="mlbugs_difficulty", metavar="LEVEL", default=None, help=HELP[DIFFICULTY]
    )
    group.addoption(HINT, dest="mlbugs_hint", metavar="EXERCISE", default=None, help=HELP[HINT])
    group.addoption(REVEAL, dest="mlbugs_reveal", metavar="EXERCISE", default=None, help=HELP[REVEAL])
    group.addoption(
        INTERVIEW, dest="mlbugs_interview", action="store_true", default=False, help=HELP[INTERVIEW]
    )
    group.addoption(
        PRACTICE_NEW, dest="mlbugs_practice_new", action="store_true", default=False, help=HELP[PRACTICE_NEW]
    )


def requested(config: pytest.Config) -> bool:
    opt = config.option
    return any(
        (
            opt.mlbugs_practice is not None,
            opt.mlbugs_difficulty is not None,
            opt.mlbugs_hint is not None,
            opt.mlbugs_reveal is not None,
            opt.mlbugs_interview,
            opt.mlbugs_practice_new,
        )
    )
