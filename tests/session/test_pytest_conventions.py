"""A seeded session behaves like any pytest run: -k, -m, node IDs, -x, --lf, and the header.

The survivors here come from mutators a conftest registers whose rewrites change nothing (an
equivalent mutant survives every suite), so that every test knows which items fail.
"""

from __future__ import annotations

import re
import textwrap

import pytest

CACHE_OFF = ("-p", "no:cacheprovider")
NO_BENCHMARK = ("-p", "no:benchmark")

#: two mutators whose rewrites are equivalent: their variants survive
SURVIVORS = textwrap.dedent(
    '''
    import libcst as cst
    import libcst.matchers as m

    from pytest_mlbugs.api import Category, Example, Layer, Mutator


    class _Equivalent(Mutator):
        """Wraps a dropout probability in float(): nothing changes, so the variant survives."""

        components = ("attention",)
        category = Category.SHAPES
        layer = Layer.SHAPES
        description = "an equivalent rewrite, for tests"
        symptom = hint = fix = "none"
        node_types = (cst.Call,)
        EXAMPLES = (Example("d = nn.Dropout(dropout)\\n", "d = nn.Dropout(float(dropout))\\n"),)

        def mutations(self, node):
            dropout_of_p = m.Call(func=m.Attribute(attr=m.Name("Dropout")), args=[m.Arg(m.Name("dropout"))])
            if m.matches(node, dropout_of_p):
                return (node.with_changes(args=[cst.Arg(cst.parse_expression("float(dropout)"))]),)
            return ()


    class survives_first(_Equivalent):
        """Survives."""

        bug_id = "survives_first"


    class survives_second(_Equivalent):
        """Survives too, with a source of its own: +dropout."""

        bug_id = "survives_second"
        EXAMPLES = (Example("d = nn.Dropout(dropout)\\n", "d = nn.Dropout(+dropout)\\n"),)

        def mutations(self, node):
            return tuple(
                changed.with_changes(args=[cst.Arg(cst.parse_expression("+dropout"))])
                for changed in super().mutations(node)
            )


    def pytest_mlbugs_register(registry):
        registry.add_mutator(survives_first)
        registry.add_mutator(survives_second)
    '''
)
ATTENTION = ("--mlbugs-seed=3", "--mlbugs-components=attention")
WITH_SURVIVORS = (*ATTENTION, "--mlbugs-mutators=softmax_wrong_dim,survives_first,survives_second")


def literal(text: str) -> str:
    """``text`` as an fnmatch pattern that matches only itself (node IDs hold brackets)."""
    return text.replace("[", "[[]")


def node_ids(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest_subprocess(*CACHE_OFF, *NO_BENCHMARK, "--collect-only", "-q", *args)
    return [line for line in result.stdout.lines if line.startswith("mlbugs::")]


def test_k_selects_among_the_variants(pytester: pytest.Pytester) -> None:
    args = ("--mlbugs-seed=42", "--mlbugs-components=masks")
    everything = node_ids(pytester, *args)
    causal = [nodeid for nodeid in everything if "causal" in nodeid]
    assert 0 < len(causal) < len(everything)
    result = pytester.runpytest_subprocess(*CACHE_OFF, *NO_BENCHMARK, *args, "-k", "causal")
    result.assert_outcomes(passed=len(causal), deselected=len(everything) - len(causal))


def test_m_selects_by_the_items_markers_even_with_strict_markers(pytester: pytest.Pytester) -> None:
    args = ("--mlbugs-seed=42", "--mlbugs-components=masks", "--strict-markers")
    everything = node_ids(pytester, *args)
    result = pytester.runpytest_subprocess(*CACHE_OFF, *NO_BENCHMARK, *args, "-m", "mlbugs_reference")
    result.assert_outcomes(passed=1, deselected=len(everything) - 1)


@pytest.mark.slow
def test_the_node_id_of_one_variant_runs_that_variant_alone(pytester: pytest.Pytester) -> None:
    args = ("--mlbugs-seed=42", "--mlbugs-components=masks")
    chosen = next(nodeid for nodeid in node_ids(pytester, *args) if "[" in nodeid)
    result = pytester.runpytest_subprocess(*CACHE_OFF, *NO_BENCHMARK, "--mlbugs-seed=42", chosen, "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"{literal(chosen)} PASSED*"])
    assert "file or directory not found" not in result.stdout.str() + result.stderr.str()


def test_x_stops_at_the_first_survivor(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SURVIVORS)
    result = pytester.runpytest_subprocess(*CACHE_OFF, *NO_BENCHMARK, *WITH_SURVIVORS, "-x")
    assert result.parseoutcomes()["failed"] == 1
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])


@pytest.mark.slow
def test_lf_reruns_the_survivors_of_the_last_session(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SURVIVORS)
    first = pytester.runpytest_subprocess(*NO_BENCHMARK, *WITH_SURVIVORS)
    first.assert_outcomes(passed=2, failed=2)  # the reference and softmax_wrong_dim; two survivors
    again = pytester.runpytest_subprocess(*NO_BENCHMARK, *WITH_SURVIVORS, "--lf", "-v")
    again.assert_outcomes(failed=2, deselected=2)
    again.stdout.fnmatch_lines(
        ["collect* 4 items / 2 deselected / 2 selected", "run-last-failure: rerun previous 2 failures"]
    )
    rerun = sorted(
        line.split("[")[0] for line in again.stdout.lines if line.endswith("]") and "FAILED" in line
    )
    assert rerun == ["mlbugs::attention::survives_first", "mlbugs::attention::survives_second"]


@pytest.mark.slow
def test_show_prints_a_variant_of_the_last_run_without_running_anything(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SURVIVORS)
    pytester.runpytest_subprocess(*NO_BENCHMARK, *WITH_SURVIVORS)
    survivor = re.search(r"survives_first\[(\w+)\]", "\n".join(node_ids(pytester, *WITH_SURVIVORS)))
    assert survivor is not None
    shown = pytester.runpytest_subprocess(*NO_BENCHMARK, f"--mlbugs-show={survivor.group(1)}")
    assert shown.ret == 0
    shown.stdout.fnmatch_lines(
        [
            "mlbugs::attention::survives_first[[]*]: survived",
            "  survives_first at line *",
            "*+*float(dropout)*",
        ]
    )
    assert "passed" not in shown.stdout.str()  # nothing ran
    unknown = pytester.runpytest_subprocess(*NO_BENCHMARK, "--mlbugs-show=0000000000ff")
    assert unknown.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in unknown.stderr.lines if line.startswith("ERROR")]
    assert len(errors) == 1
    assert re.fullmatch(
        r"ERROR: --mlbugs-show=0000000000ff: no variant or mutant of the last run \(3 in all\) has this ID; "
        r"give an ID, item name or node ID from its output",
        errors[0],
    ), errors


def test_show_reads_a_report_file_when_one_is_named(pytester: pytest.Pytester) -> None:
    report = pytester.path / "report.json"
    pytester.runpytest_subprocess(
        *CACHE_OFF,
        *NO_BENCHMARK,
        "--mlbugs-seed=42",
        "--mlbugs-components=masks",
        f"--mlbugs-report={report}",
    )
    chosen = re.search(
        r"\[(\w+)\]",
        next(n for n in node_ids(pytester, "--mlbugs-seed=42", "--mlbugs-components=masks") if "[" in n),
    )
    assert chosen is not None
    shown = pytester.runpytest_subprocess(
        *CACHE_OFF, *NO_BENCHMARK, f"--mlbugs-show={chosen.group(1)}", f"--mlbugs-report={report}"
    )
    shown.stdout.fnmatch_lines([f"variant {chosen.group(1)} (masks): detected", "  caught by masks.*"])


def test_the_header_carries_every_option_that_shapes_the_plan_and_says_what_selects_nothing(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest_subprocess(
        *CACHE_OFF, *NO_BENCHMARK, "--mlbugs-seed=42", "--mlbugs-components=masks,data",
        "--mlbugs-mutators=causal_mask_off_by_one,softmax_wrong_dim", "--mlbugs-count=3",
        "--mlbugs-max-bugs=2",
    )  # fmt: skip
    result.stdout.fnmatch_lines(
        [
            "mlbugs: --mlbugs-seed=42 --mlbugs-components=masks,data "
            "--mlbugs-mutators=causal_mask_off_by_one,softmax_wrong_dim --mlbugs-count=3 --mlbugs-max-bugs=2 "
            "(2 components, 1 mutators)",
            "mlbugs: no selected mutator applies to data: no variant of it *",
            "mlbugs: softmax_wrong_dim claim(s) none of the selected components: no variant of them",
        ]
    )


def test_the_header_names_an_extension_that_takes_part(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(SURVIVORS)
    result = pytester.runpytest_subprocess(*CACHE_OFF, *NO_BENCHMARK, *WITH_SURVIVORS, "--collect-only")
    header = (
        "mlbugs: --mlbugs-seed=3 --mlbugs-components=attention * (1 components, 3 mutators; with conftest.py)"
    )
    result.stdout.fnmatch_lines([header])


@pytest.mark.slow
def test_a_long_session_shows_its_progress_and_q_keeps_it_quiet(pytester: pytest.Pytester) -> None:
    args = ("--mlbugs-seed=4", "--mlbugs-components=masks,metrics", "--mlbugs-count=60")
    result = pytester.runpytest_subprocess(*CACHE_OFF, *NO_BENCHMARK, *args)
    result.stdout.fnmatch_lines(["mlbugs: [[] 10%] 6 of 60 variants judged, *.*/s, about * left"])
    result.stdout.fnmatch_lines(["mlbugs: [[] 90%] 54 of 60 variants judged, *"])
    quiet = pytester.runpytest_subprocess(*CACHE_OFF, *NO_BENCHMARK, *args, "-q")
    assert not [line for line in quiet.stdout.lines if line.startswith("mlbugs: [")]
