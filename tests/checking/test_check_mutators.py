"""``pytest --mlbugs-check-mutators``: one item per mutator, failing with what to fix."""

from __future__ import annotations

import textwrap

import pytest


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:benchmark", *args)


@pytest.mark.slow
@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_builtin_mutator_passes_its_check(pytester, xdist):
    mutators = "--mlbugs-mutators=softmax_wrong_dim,residual_dropped"
    result = run(pytester, "--mlbugs-check-mutators", mutators, "-v", *xdist)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "mlbugs: --mlbugs-check-mutators --mlbugs-seed=0 (2 mutators over *",
            "*PASSED*mlbugs-check::*" if xdist else "*mlbugs-check::softmax_wrong_dim PASSED*",
            "2 of 2 mutators pass their check",
        ]
    )


CONFTEST = textwrap.dedent(
    '''
    import libcst as cst
    import libcst.matchers as m

    from pytest_mlbugs.api import Category, Example, Layer, Mutator


    DROPOUT_OF_P = m.Call(func=m.Attribute(attr=m.Name("Dropout")), args=[m.Arg(value=m.Name("dropout"))])


    class _Base(Mutator):
        """A mutator for the check's tests."""

        components = ("attention",)
        category = Category.SHAPES
        layer = Layer.SHAPES
        description = "for tests"
        symptom = hint = fix = "none"
        node_types = (cst.Call,)

        def mutations(self, node):
            if m.matches(node, DROPOUT_OF_P):
                return (node.with_changes(args=[cst.Arg(cst.parse_expression("float(dropout)"))]),)
            return ()


    class equivalent_dropout_rewrite(_Base):
        """Wraps the dropout probability in float(): behaviour is unchanged, so it survives."""

        bug_id = "equivalent_dropout_rewrite"
        EXAMPLES = (Example("d = nn.Dropout(dropout)\\n", "d = nn.Dropout(float(dropout))\\n"),)


    class wrong_examples(_Base):
        """Its example claims a rewrite it does not make; its UNCHANGED source offers a site."""

        bug_id = "wrong_examples"
        components = ("masks",)
        EXAMPLES = (Example("d = nn.Dropout(dropout)\\n", "d = nn.Dropout(0.0)\\n"),)
        UNCHANGED = ("d = nn.Dropout(dropout)\\n",)


    def pytest_mlbugs_register(registry):
        registry.add_mutator(equivalent_dropout_rewrite)
        registry.add_mutator(wrong_examples)
    '''
)


@pytest.mark.slow
def test_a_survivor_fails_with_its_diff_and_advice_and_bad_examples_and_missing_sites_are_named(pytester):
    pytester.makeconftest(CONFTEST)
    result = run(
        pytester,
        "--mlbugs-check-mutators",
        "--mlbugs-mutators=equivalent_dropout_rewrite,wrong_examples",
        "--mlbugs-timeout=30",
    )
    result.assert_outcomes(failed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "mutator equivalent_dropout_rewrite (from conftest.py) fails its check:",
            "- SURVIVED at site 0 (reference_impls/attention.py line *): "
            "no property of the attention suite failed on this variant.",
            "+*nn.Dropout(float(dropout))",
            "  Add a property to the attention suite that fails on this variant; or, if the rewrite is "
            "equivalent here *return () from mutations() for this site and add the pattern to UNCHANGED.",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "mutator wrong_examples (from conftest.py) fails its check:",
            "- EXAMPLES[0] does not hold:",
            "*-d = nn.Dropout(0.0)",
            "*+d = nn.Dropout(float(dropout))",
            "- UNCHANGED[0] offers 1 site(s), the first on line 1; it must offer none",
            "- finds no site in reference_impls/masks.py, the reference of 'masks' it claims; "
            "widen its match or drop 'masks' from components",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "0 of 2 mutators pass their check",
            "  failing: equivalent_dropout_rewrite (from conftest.py)",
            "  failing: wrong_examples (from conftest.py)",
        ]
    )


@pytest.mark.slow
def test_a_mutator_that_raises_fails_its_own_check_and_the_others_still_run(pytester):
    pytester.makeconftest(
        textwrap.dedent(
            '''
            import libcst as cst
            from pytest_mlbugs.api import Category, Example, Layer, Mutator

            class raises_on_calls(Mutator):
                """Raises."""

                bug_id = "raises_on_calls"
                components = ("masks",)
                category = Category.SHAPES
                layer = Layer.SHAPES
                description = "for tests"
                symptom = hint = fix = "none"
                node_types = (cst.Call,)
                EXAMPLES = (Example("f(x)\\n", "g(x)\\n"),)

                def mutations(self, node):
                    raise RuntimeError("the matcher has a bug")

            def pytest_mlbugs_register(registry):
                registry.add_mutator(raises_on_calls, origin="my-team")
            '''
        )
    )
    result = run(pytester, "--mlbugs-check-mutators", "--mlbugs-components=masks")
    outcomes = result.parseoutcomes()
    assert outcomes["failed"] == 1 and outcomes["passed"] >= 5, outcomes
    result.stdout.fnmatch_lines(
        [
            "mutator raises_on_calls (from my-team) fails its check:",
            "- EXAMPLES[0]: raised RuntimeError: the matcher has a bug",
            "- in reference_impls/masks.py: raised RuntimeError: the matcher has a bug",
        ]
    )


def test_check_mode_refuses_impl_with_a_one_line_usage_error(pytester):
    result = run(pytester, "--mlbugs-check-mutators", "--mlbugs-impl=attention=x.py")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --mlbugs-check-mutators checks mutators; run --mlbugs-impl *"])
