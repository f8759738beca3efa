"""A re-run with nothing changed takes every verdict from the cache, even where the clean run's
timings put a mutant's tests in another order (fastest first) than the run that judged it."""

from __future__ import annotations

import textwrap

import pytest

OPS = textwrap.dedent(
    """
    import torch.nn.functional as F


    def probabilities(scores):
        return F.softmax(scores, dim=-1)
    """
)

#: each test is the slower one in one of the two runs: a file beside them (not a module, so not
#: part of what the cache digests) says which run this is
TESTS = textwrap.dedent(
    """
    import time
    from pathlib import Path

    import torch

    from minipkg.ops import probabilities

    FIRST_RUN = Path(__file__).with_name("first-run")


    def test_shape_is_kept():
        time.sleep(0.3 if FIRST_RUN.exists() else 0.0)
        assert probabilities(torch.zeros(2, 3)).shape == (2, 3)


    def test_rows_sum_to_one():
        time.sleep(0.0 if FIRST_RUN.exists() else 0.3)
        assert (probabilities(torch.randn(4, 3)).sum(-1) - 1).abs().max() < 1e-6
    """
)


def test_tests_that_trade_places_between_runs_still_find_their_verdicts_cached(
    pytester: pytest.Pytester,
) -> None:
    pytester.mkpydir("minipkg")
    pytester.path.joinpath("minipkg", "ops.py").write_text(OPS)
    pytester.makepyfile(test_ops=TESTS)
    first_run = pytester.path / "first-run"
    first_run.touch()
    args = ("-p", "no:benchmark", "--mlbugs-target=minipkg/ops.py", "--mlbugs-mutators=softmax_wrong_dim")
    pytester.runpytest_subprocess(*args).stdout.fnmatch_lines(["*0 verdict(s) from the cache*"])
    first_run.unlink()
    pytester.runpytest_subprocess(*args).stdout.fnmatch_lines(
        ["*1 of 1 mutants detected; 1 verdict(s) from the cache*"]
    )
