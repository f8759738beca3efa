"""Target mode's mutants are pytest items: selection, -x, --lf, exit status, xdist output."""

from __future__ import annotations

import pytest

from tests.targeting.test_targeting import NO_PLUGINS, write_project

NO_BENCHMARK = ("-p", "no:benchmark")
TARGET = "--mlbugs-target=minipkg/ops.py"
#: on the small project: softmax_wrong_dim is detected, device_hard_coded and
#: pe_parameter_not_buffer survive (its tests never move the module or look at its parameters)
SOME = "--mlbugs-mutators=softmax_wrong_dim,device_hard_coded,pe_parameter_not_buffer"


def mutant_lines(result: pytest.RunResult, outcome: str) -> list[str]:
    return sorted(
        line.split("]")[0] + "]"
        for line in result.stdout.lines
        if line.startswith("mlbugs-target[") and outcome in line
    )


def test_survivors_fail_their_items_and_the_run_unless_the_threshold_is_met(
    pytester: pytest.Pytester,
) -> None:
    write_project(pytester)
    result = pytester.runpytest_subprocess(*NO_PLUGINS, TARGET, SOME, "-v")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert mutant_lines(result, "FAILED") == [
        "mlbugs-target[minipkg/ops.py:device_hard_coded:0]",
        "mlbugs-target[minipkg/ops.py:pe_parameter_not_buffer:0]",
    ]
    result.stdout.fnmatch_lines(
        ["test_ops.py::test_predict_rows_sum_to_one_in_eval_mode_without_grad PASSED*"]
    )
    # the failure shows the diff; the summary names each survivor once
    result.stdout.fnmatch_lines(
        [
            "*SURVIVED minipkg/ops.py:device_hard_coded:0*",
            '*only a device other than the CPU shows this bug; a CPU test can: *torch.device("meta")*',
            "*+*device=*",
        ]
    )
    passing = pytester.runpytest_subprocess(*NO_PLUGINS, TARGET, SOME, "--mlbugs-fail-under=30")
    passing.stdout.fnmatch_lines(["--mlbugs-fail-under=30: passed"])
    assert passing.ret == pytest.ExitCode.OK


@pytest.mark.slow
def test_k_selects_mutants_by_bug_id_and_x_stops_at_the_first_survivor(pytester: pytest.Pytester) -> None:
    write_project(pytester)
    selected = pytester.runpytest_subprocess(*NO_PLUGINS, TARGET, SOME, "-k", "softmax or test_", "-v")
    assert mutant_lines(selected, "PASSED") == ["mlbugs-target[minipkg/ops.py:softmax_wrong_dim:0]"]
    assert mutant_lines(selected, "FAILED") == []
    assert selected.ret == pytest.ExitCode.OK
    # only one test selected: the clean run is made again, quietly, for every test
    narrow = pytester.runpytest_subprocess(*NO_PLUGINS, TARGET, SOME, "-k", "softmax", "-v")
    assert mutant_lines(narrow, "PASSED") == ["mlbugs-target[minipkg/ops.py:softmax_wrong_dim:0]"]
    stopped = pytester.runpytest_subprocess(*NO_PLUGINS, TARGET, SOME, "-x")
    assert stopped.parseoutcomes()["failed"] == 1
    stopped.stdout.fnmatch_lines(["*stopping after 1 failures*"])


def test_lf_judges_only_the_last_runs_survivors_with_the_cached_clean_run(pytester: pytest.Pytester) -> None:
    write_project(pytester)
    pytester.runpytest_subprocess(*NO_BENCHMARK, TARGET, SOME)
    again = pytester.runpytest_subprocess(*NO_BENCHMARK, TARGET, SOME, "--lf", "-v")
    assert mutant_lines(again, "FAILED") == [
        "mlbugs-target[minipkg/ops.py:device_hard_coded:0]",
        "mlbugs-target[minipkg/ops.py:pe_parameter_not_buffer:0]",
    ]
    assert mutant_lines(again, "PASSED") == []
    again.stdout.fnmatch_lines(["run-last-failure: rerun previous 2 failures*"])


def test_the_node_id_of_a_mutant_and_show_name_it(pytester: pytest.Pytester) -> None:
    write_project(pytester)
    chosen = "mlbugs-target[minipkg/ops.py:device_hard_coded:0]"
    one = pytester.runpytest_subprocess(*NO_BENCHMARK, TARGET, SOME, chosen, "-v")
    assert mutant_lines(one, "") == [chosen]
    shown = pytester.runpytest_subprocess(*NO_BENCHMARK, "--mlbugs-show=minipkg/ops.py:device_hard_coded:0")
    shown.stdout.fnmatch_lines(
        [f"{chosen.replace('[', '[[]')}: survived", "  minipkg/ops.py:16 *", "  1 test(s) passed"]
    )


@pytest.mark.slow
def test_under_xdist_the_users_tests_and_each_survivor_show_as_in_a_serial_run(
    pytester: pytest.Pytester,
) -> None:
    write_project(pytester)
    result = pytester.runpytest_subprocess(*NO_PLUGINS, TARGET, SOME, "-n", "2", "-v")
    result.stdout.fnmatch_lines(
        ["*PASSED test_ops.py::test_predict_rows_sum_to_one_in_eval_mode_without_grad*"]
    )
    result.stdout.fnmatch_lines(["*FAILED mlbugs-target[[]minipkg/ops.py:device_hard_coded:0]*"])
    result.stdout.fnmatch_lines(["*SURVIVED minipkg/ops.py:pe_parameter_not_buffer:0*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_module_that_cannot_be_found_is_one_usage_error_line(pytester: pytest.Pytester) -> None:
    write_project(pytester)
    result = pytester.runpytest_subprocess(*NO_PLUGINS, "--mlbugs-target=minipkg.nowhere")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR")]
    assert errors == [
        "ERROR: --mlbugs-target=minipkg.nowhere: no such module or file; "
        "give a path or an importable module name"
    ]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
