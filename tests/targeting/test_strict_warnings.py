"""A project that turns every warning into an error (``filterwarnings = error``, common in
well-kept projects) gets the same verdicts as one that does not: the harness warns nothing into
the user's tests."""

from __future__ import annotations

import json
import textwrap

import pytest

OPS = textwrap.dedent(
    """
    import torch.nn.functional as F


    def probabilities(scores):
        return F.softmax(scores, dim=-1)
    """
)

#: two tests that cannot tell the softmax's axis: its mutant must survive. The second test matters:
#: pytest reports a warning raised between tests (an unclosed file collected by the garbage
#: collector) at the setup of the next one.
WEAK_TESTS = textwrap.dedent(
    """
    import torch

    from minipkg.ops import probabilities


    def test_shape_is_kept():
        assert probabilities(torch.zeros(2, 3)).shape == (2, 3)


    def test_probabilities_are_not_negative():
        assert (probabilities(torch.randn(2, 3)) >= 0).all()
    """
)


def test_warnings_as_errors_turn_no_surviving_mutant_into_a_detection(pytester: pytest.Pytester) -> None:
    pytester.mkpydir("minipkg")
    pytester.path.joinpath("minipkg", "ops.py").write_text(OPS)
    pytester.makepyfile(test_ops=WEAK_TESTS)
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    report = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:benchmark", "--mlbugs-target=minipkg/ops.py",
        "--mlbugs-mutators=softmax_wrong_dim", f"--mlbugs-report={report}",
    )  # fmt: skip
    (mutant,) = json.loads(report.read_text())["mlbugs"]["mutants"]
    assert (mutant["status"], mutant["killed_by"]) == ("survived", None)
    assert mutant["detail"] == "2 test(s) passed"
    assert result.ret == pytest.ExitCode.TESTS_FAILED
