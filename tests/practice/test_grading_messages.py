"""What grading a practice exercise tells a person: the check that failed, the line of their
exercise where it failed, the contract's section (in the exercise's header too), and, when the
exercise no longer meets the contract, that first.
"""

from __future__ import annotations

import re

import pytest

from pytest_mlbugs.registry import builtin_registry

MASKS = builtin_registry().components["masks"].reference_source
PLUGINS = ("-p", "no:cacheprovider", "-p", "no:benchmark")
MASKS_LINK = "docs/contracts.md#7-masks on pytest-mlbugs' home page"


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*PLUGINS, *args)


def failure_heads(result: pytest.RunResult) -> list[str]:
    lines = result.outlines
    return [lines[i + 1] for i, line in enumerate(lines) if re.fullmatch(r"_{3,} .* _{3,}", line)]


@pytest.fixture
def exercise(pytester: pytest.Pytester):
    written = run(pytester, "--mlbugs-seed=4", "--mlbugs-practice=ex", "--mlbugs-components=masks")
    assert written.ret == 0, written.stdout.str()
    return pytester.path / "ex" / "exercise_masks.py"


def test_the_exercise_header_links_its_contract(exercise):
    header = exercise.read_text().split('"""')[1]
    assert "(contract 7: " in header
    assert f"The contract: {MASKS_LINK}." in header
    assert "CONTRACTS.md" not in exercise.read_text()


def test_a_failure_names_the_check_and_the_line_of_the_exercise(pytester, exercise):
    source = MASKS.replace("return torch.tril(ones, diagonal=0)", "return torch.tril(ones, diagonal=ones)")
    assert source != MASKS
    exercise.write_text(source)
    line = source.splitlines().index("    return torch.tril(ones, diagonal=ones)") + 1
    result = run(pytester, "ex")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "masks.causal_mask_is_lower_triangular does not hold: * raised TypeError: tril(): *",
            f"  in your file: ex/exercise_masks.py:{line}: return torch.tril(ones, diagonal=ones)",
            "  what it means: The causal mask is not *",
            "  in training this shows as: *",
            "  debugging layer 3 of 7 (shapes) in the procedure data -> * -> evaluation",
            "  a failing case: *",
            f"  the contract: {MASKS_LINK}",
        ]
    )


def test_an_exercise_that_no_longer_meets_the_contract_is_told_so_first(pytester, exercise):
    exercise.write_text(MASKS + "\n\ncreate_padding_mask = None  # not a function any more\n")
    result = run(pytester, "ex")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    heads = failure_heads(result)
    assert heads, result.stdout.str()
    for head in heads:
        assert head.startswith(
            "ex/exercise_masks.py does not meet the masks contract: TypeError: 'NoneType' object is not "
            "callable; the contract requires impl.create_padding_mask("
        ), head
        assert head.endswith(f") (see {MASKS_LINK})"), head
    # where, below: the suite's line that called it
    result.stdout.fnmatch_lines(
        ["  found by masks.*; where:", "    pytest_mlbugs/properties/masks.py:*create_padding_mask*"]
    )
