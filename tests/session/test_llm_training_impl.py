"""``--mlbugs-impl`` end to end on contracts 19-24 (sampling, generation, schedule, amp,
checkpoint, collate), through pytester subprocess runs as in test_plugin.py: a user's correct
file passes every property, a file with one bug fails naming its debugging layer, and a file
that misses a contract name is one usage-error line."""

from __future__ import annotations

import pytest

from pytest_mlbugs.registry import builtin_registry
from tests.support.impl_files import write_impl_files

LLM_COMPONENTS = ("sampling", "generation", "schedule", "amp", "checkpoint", "collate")
REGISTRY = builtin_registry()


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # pytest-benchmark, where installed, writes .benchmarks/ into the folder: not ours to test
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:benchmark", *args)


@pytest.mark.slow
def test_a_correct_file_passes_and_a_buggy_one_names_its_layer_for_each_llm_contract(pytester):
    # the correct files are the references; each buggy one carries the first bug the kill
    # matrix writes into that component
    files = write_impl_files(pytester, REGISTRY, LLM_COMPONENTS)

    correct = run(pytester, "--mlbugs-seed=1", *files.correct_args)
    correct.assert_outcomes(passed=files.properties)

    broken = run(pytester, "--mlbugs-seed=1", *files.buggy_args)
    assert broken.ret == pytest.ExitCode.TESTS_FAILED
    for name in LLM_COMPONENTS:
        layer = REGISTRY.mutators[files.buggy[name].bugs[0].bug_id].layer
        broken.stdout.fnmatch_lines(
            [
                f"*buggy_{name}.py breaks the {name} contract: *",
                "Debugging layer * of 7 (*); in training you would see: *",
            ]
        )
        assert any(f"buggy_{name}.py breaks" in line for line in broken.outlines), name
        assert layer.value in broken.stdout.str()
    # nothing but the files this test wrote (and pytester's own): no checkpoint, no cache
    pytesters_own = ("runpytest-", "stdout", "stderr")
    left = [
        p.name for p in pytester.path.iterdir() if p.suffix != ".py" and not p.name.startswith(pytesters_own)
    ]
    assert left == []


@pytest.mark.parametrize("name", LLM_COMPONENTS)
def test_a_file_missing_a_contract_name_is_one_usage_error_line(pytester, name):
    names = REGISTRY.components[name].suite.names
    # define every contract name but the last one
    pytester.path.joinpath("partial.py").write_text("".join(f"{n} = None\n" for n in names[:-1]))
    result = run(pytester, f"--mlbugs-impl={name}=partial.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert len(errors) == 1, result.errlines
    assert errors[0].startswith(f"ERROR: --mlbugs-impl: partial.py does not define {names[-1]}, "), errors
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
