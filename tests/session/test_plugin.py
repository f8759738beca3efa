"""The plugin seen from the command line, through pytester subprocess runs.

Subprocesses, not in-process runs: torch's import state and the module cache would otherwise
leak between runs.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from pytest_mlbugs.registry import builtin_registry
from tests.support.impl_files import write_impl_files

ATTENTION_REFERENCE = builtin_registry().components["attention"].reference_source

#: a conftest registering mutators whose verdicts are known in advance
CONFTEST_WITH_TEST_MUTATORS = textwrap.dedent(
    '''
    import libcst as cst
    import libcst.matchers as m

    from pytest_mlbugs.api import Category, Example, Layer, Mutator


    class _Base(Mutator):
        """A mutator for the plugin's own tests."""

        components = ("attention",)
        category = Category.SHAPES
        layer = Layer.SHAPES
        symptom = "none"
        hint = "none"
        fix = "none"
        EXAMPLES = ()


    class equivalent_dropout_rewrite(_Base):
        """Wraps the dropout probability in float(): behaviour is unchanged, so it must survive."""

        bug_id = "equivalent_dropout_rewrite"
        description = "an equivalent rewrite that no property can tell apart"
        node_types = (cst.Call,)

        def mutations(self, node):
            dropout_of_the_argument = m.Call(
                func=m.Attribute(attr=m.Name("Dropout")), args=[m.Arg(value=m.Name("dropout"))]
            )
            if m.matches(node, dropout_of_the_argument):
                return (node.with_changes(args=[cst.Arg(cst.parse_expression("float(dropout)"))]),)
            return ()


    class import_breaks(_Base):
        """The variant cannot be imported: an error verdict, never a detection."""

        bug_id = "import_breaks"
        description = "import a module that does not exist"
        node_types = (cst.Import,)

        def mutations(self, node):
            if m.matches(node, m.Import(names=[m.ImportAlias(name=m.Name("math"))])):
                return (cst.parse_statement("import math_that_does_not_exist").body[0],)
            return ()


    class _Prepends(_Base):
        """Puts ``statement`` first in the method called ``method``."""

        node_types = (cst.FunctionDef,)

        def mutations(self, node):
            if node.name.value != self.method:
                return ()
            body = node.body.with_changes(body=(cst.parse_statement(self.statement), *node.body.body))
            return (node.with_changes(body=body),)


    class forward_hangs(_Prepends):
        """The forward pass never returns: a timeout verdict."""

        bug_id = "forward_hangs"
        description = "loop forever in forward"
        method, statement = "forward", "while True:\\n    pass\\n"


    class init_raises(_Prepends):
        """Building the module raises: every property fails at once, before forward runs."""

        bug_id = "init_raises"
        category = Category.STATE_DEVICE
        description = "raise in __init__"
        method, statement = "__init__", "raise ValueError('broken on purpose')\\n"


    def pytest_mlbugs_register(registry):
        for cls in (equivalent_dropout_rewrite, import_breaks, forward_hangs, init_raises):
            registry.add_mutator(cls, origin="tests conftest")
    '''
)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # pytest-benchmark, where installed, writes .benchmarks/ into the folder: not ours to test
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:benchmark", *args)


def collected_ids(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = run(pytester, "--collect-only", "-q", *args)
    assert result.ret == 0, result.stdout.str()
    return [line for line in result.outlines if line.startswith("mlbugs")]


def test_plugin_adds_nothing_without_options(pytester):
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    result = run(pytester, "-v")
    result.assert_outcomes(passed=1)
    assert "mlbugs:" not in result.stdout.str()
    assert "detection score" not in result.stdout.str()
    result.stdout.fnmatch_lines(["test_plain.py::test_ok PASSED*"])


def test_header_prints_the_seed_as_a_pasteable_option(pytester):
    result = run(pytester, "--mlbugs-seed=42", "--mlbugs-components=attention", "--collect-only")
    result.stdout.fnmatch_lines(["mlbugs: --mlbugs-seed=42 *"])


def test_a_random_seed_is_chosen_and_printed_when_a_session_is_asked_for(pytester):
    result = run(pytester, "--mlbugs-components=attention", "--collect-only")
    assert re.search(r"^mlbugs: --mlbugs-seed=\d+ ", result.stdout.str(), re.MULTILINE)


@pytest.mark.slow
def test_same_seed_gives_the_same_variants_and_another_seed_others(pytester):
    builtins = ",".join(sorted(builtin_registry().components))
    args = ("--mlbugs-count=12", "--mlbugs-max-bugs=3", f"--mlbugs-components={builtins}")
    first = collected_ids(pytester, "--mlbugs-seed=42", *args)
    again = collected_ids(pytester, "--mlbugs-seed=42", *args)
    other = collected_ids(pytester, "--mlbugs-seed=43", *args)
    assert len(first) == 12 + len(builtin_registry().components)
    assert first == again
    assert first != other


def test_session_collects_one_item_per_variant_and_reference_without_test_files(pytester):
    result = run(pytester, "--mlbugs-seed=1", "--mlbugs-components=attention", "-v")
    names = sorted(builtin_registry().mutators_for("attention"), key=lambda m: m.bug_id)
    result.assert_outcomes(passed=len(names) + 1)
    result.stdout.fnmatch_lines(["*mlbugs::attention::reference PASSED*", "*detection score: 100.0%*"])


def test_list_prints_the_catalogue_and_exits_zero(pytester):
    result = run(pytester, "--mlbugs-list")
    assert result.ret == 0
    lines = result.stdout.lines
    for mutator in builtin_registry().sorted_mutators():
        (line,) = [line for line in lines if line.startswith(f"{mutator.bug_id} ")]
        assert ",".join(mutator.components) in line
        assert mutator.category.value in line
        assert line.endswith(mutator.description)
    assert not re.search(r"\d+ passed", result.stdout.str())


def test_a_surviving_variant_fails_with_its_diff_and_description(pytester):
    pytester.makeconftest(CONFTEST_WITH_TEST_MUTATORS)
    result = run(
        pytester,
        "--mlbugs-seed=3",
        "--mlbugs-components=attention",
        "--mlbugs-mutators=equivalent_dropout_rewrite",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "SURVIVED: no property of the attention suite failed on this variant.",
            "*bug equivalent_dropout_rewrite (line *): an equivalent rewrite that no property can tell apart",
            "+*nn.Dropout(float(dropout))",
        ]
    )


def test_a_variant_of_several_bugs_says_which_bug_the_suite_would_miss_on_its_own(pytester):
    # An equivalent rewrite composed with a real bug: the variant is detected (a property
    # failed), and the report and the summary say the rewrite is not caught on its own.
    pytester.makeconftest(CONFTEST_WITH_TEST_MUTATORS)
    result = run(
        pytester,
        "--mlbugs-seed=3",
        "--mlbugs-components=attention",
        "--mlbugs-mutators=equivalent_dropout_rewrite,attention_scale_dropped",
        "--mlbugs-count=6",
        "--mlbugs-max-bugs=2",
        "--mlbugs-report=report.json",
    )
    variants = json.loads(Path(pytester.path, "report.json").read_text())["mlbugs"]["variants"]
    pairs = [v for v in variants if len(v["bugs"]) == 2]
    assert pairs, "the seed drew no variant of two bugs"
    for variant in pairs:
        assert variant["status"] == "detected"
        bugs = {bug["id"]: bug for bug in variant["bugs"]}
        assert bugs["equivalent_dropout_rewrite"] | {"line": 0} == {
            "id": "equivalent_dropout_rewrite",
            "line": 0,
            "alone": "survived",
            "caught_by": None,
            "pointed_to": False,
        }
        scale = bugs["attention_scale_dropped"]
        assert scale["alone"] == "detected" and scale["pointed_to"]
        assert scale["caught_by"] == variant["first_failing_property"]
    for variant in variants:
        if len(variant["bugs"]) == 1:
            assert set(variant["bugs"][0]) == {"id", "line"}
    result.stdout.fnmatch_lines(
        [
            f"variants of several bugs: {len(pairs)}, with {2 * len(pairs)} bugs: {len(pairs)} caught on "
            f"their own; the case that failed on the whole variant fails again on {len(pairs)} of them alone",
            "  attention variant * (detected): equivalent_dropout_rewrite at line * not caught on its own: "
            "the suite misses it once the other bugs are fixed",
        ]
    )


@pytest.mark.slow
@pytest.mark.parametrize("isolation", ["worker", "fork", "none"])
def test_a_bug_that_hangs_alone_times_out_alone_and_the_variant_stays_detected(pytester, isolation):
    # forward_hangs beside init_raises: the whole variant fails at construction, before forward
    # loops; judged alone, forward_hangs loops, and only its own verdict is a timeout.
    pytester.makeconftest(CONFTEST_WITH_TEST_MUTATORS)
    result = run(
        pytester,
        "--mlbugs-seed=3",
        "--mlbugs-components=attention",
        "--mlbugs-mutators=init_raises,forward_hangs",
        "--mlbugs-count=4",
        "--mlbugs-max-bugs=2",
        "--mlbugs-timeout=4",
        f"--mlbugs-isolation={isolation}",
        "--mlbugs-report=report.json",
    )
    variants = json.loads(Path(pytester.path, "report.json").read_text())["mlbugs"]["variants"]
    pairs = [v for v in variants if len(v["bugs"]) == 2]
    assert pairs, "the seed drew no variant of two bugs"
    for variant in variants:
        if [bug["id"] for bug in variant["bugs"]] == ["forward_hangs"]:
            assert variant["status"] == "timeout"  # the time limit still holds for the rest
    for variant in pairs:
        assert variant["status"] == "detected"
        assert variant["seconds"] < 4
        bugs = {bug["id"]: bug for bug in variant["bugs"]}
        assert bugs["forward_hangs"]["alone"] == "timeout"
        assert bugs["init_raises"]["alone"] == "detected" and bugs["init_raises"]["pointed_to"]
    result.stdout.fnmatch_lines(
        ["*forward_hangs at line * no verdict on its own within its share of --mlbugs-timeout*"]
    )


def test_errors_and_timeouts_are_never_detections(pytester):
    pytester.makeconftest(CONFTEST_WITH_TEST_MUTATORS)
    result = run(
        pytester,
        "--mlbugs-seed=3",
        "--mlbugs-components=attention",
        "--mlbugs-mutators=import_breaks,forward_hangs",
        "--mlbugs-timeout=3",
        "--mlbugs-report=report.json",
    )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*ERROR: the variant raised at import*"])
    result.stdout.fnmatch_lines(["*TIMEOUT: no verdict within 3 s*"])
    report = json.loads(Path(pytester.path, "report.json").read_text())
    statuses = sorted(v["status"] for v in report["mlbugs"]["variants"])
    assert statuses == ["error", "timeout"]
    assert report["mlbugs"]["score"] == 0.0


USAGE_ERRORS = [
    (["--mlbugs-seed=abc"], "--mlbugs-seed=abc: not an integer"),
    (["--mlbugs-seed=-1"], "--mlbugs-seed=-1: must be at least 0"),
    (["--mlbugs-count=0"], "--mlbugs-count=0: must be at least 1"),
    (["--mlbugs-max-bugs=x"], "--mlbugs-max-bugs=x: not an integer"),
    (["--mlbugs-mutators=no_such_bug"], "--mlbugs-mutators: unknown bug ID no_such_bug"),
    (["--mlbugs-mutators=,"], "--mlbugs-mutators=',': the list is empty"),
    (["--mlbugs-components=nothing"], "--mlbugs-components: unknown component nothing"),
    (["--mlbugs-timeout=-3"], "--mlbugs-timeout=-3: must be a positive number"),
    (["--mlbugs-isolation=thread"], "--mlbugs-isolation=thread: choose 'worker', 'fork' or 'none'"),
    (["--mlbugs-impl=attention"], "--mlbugs-impl=attention: expected COMPONENT=PATH"),
    (["--mlbugs-impl=nothing=x.py"], "--mlbugs-impl: unknown component nothing"),
    (["--mlbugs-impl=attention=missing.py"], "--mlbugs-impl: missing.py does not exist"),
    (["--mlbugs-impl=attention=."], "--mlbugs-impl: . is a directory"),
    (["--mlbugs-impl=attention=broken.py"], "--mlbugs-impl: broken.py:1: syntax error"),
    (["--mlbugs-impl=attention=binary.py"], "--mlbugs-impl: binary.py is a binary file"),
    (["--mlbugs-impl=attention=latin1.py"], "--mlbugs-impl: latin1.py is not UTF-8 text"),
    (["--mlbugs-impl=attention=empty.py"], "--mlbugs-impl: empty.py does not define MultiHeadAttention"),
    (["--mlbugs-impl=attention=raises.py"], "--mlbugs-impl: importing raises.py raised ZeroDivisionError"),
    (["--mlbugs-report=nowhere/r.json"], "--mlbugs-report=nowhere/r.json: folder nowhere does not exist"),
]


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS, ids=[a[0] for a, _ in USAGE_ERRORS])
def test_bad_input_is_a_one_line_usage_error(pytester, args, message):
    pytester.path.joinpath("broken.py").write_text("def f(:\n")
    pytester.path.joinpath("binary.py").write_bytes(b"\x00\x01\x02")
    pytester.path.joinpath("latin1.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    pytester.path.joinpath("empty.py").write_text("x = 1\n")
    pytester.path.joinpath("raises.py").write_text("1 / 0\n")
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert errors == [f"ERROR: {errors[0][7:]}"] and errors[0].startswith(f"ERROR: {message}"), (
        result.errlines
    )
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_impl_runs_one_item_per_property_and_accepts_another_correct_style(pytester):
    pytester.makepyfile(
        my_attention="""
        import torch
        from torch import nn


        class MultiHeadAttention(nn.Module):
            def __init__(self, d_model, num_heads, dropout=0.0):
                super().__init__()
                self.h = num_heads
                self.q_proj = nn.Linear(d_model, d_model)
                self.k_proj = nn.Linear(d_model, d_model)
                self.v_proj = nn.Linear(d_model, d_model)
                self.out_proj = nn.Linear(d_model, d_model)
                self.p = dropout

            def forward(self, query, key, value, mask=None):
                b, tq, d = query.shape
                split = lambda x: x.unflatten(-1, (self.h, d // self.h)).transpose(1, 2)
                out = nn.functional.scaled_dot_product_attention(
                    split(self.q_proj(query)), split(self.k_proj(key)), split(self.v_proj(value)),
                    attn_mask=mask, dropout_p=self.p if self.training else 0.0,
                )
                return self.out_proj(out.transpose(1, 2).flatten(2))
        """
    )
    result = run(pytester, "--mlbugs-impl=attention=my_attention.py", "-v")
    properties = builtin_registry().components["attention"].suite.properties
    result.assert_outcomes(passed=len(properties))


def test_impl_failure_shows_the_counterexample_and_what_it_means(pytester):
    pytester.path.joinpath("my_attention.py").write_text(
        ATTENTION_REFERENCE.replace(" / math.sqrt(self.d_k)", "")
    )
    result = run(pytester, "--mlbugs-impl=attention=my_attention.py")
    result.stdout.fnmatch_lines(
        [
            "*my_attention.py breaks the attention contract: matches_scaled_dot_product_attention",
            "What it means: *",
            "Debugging layer * of 7 (*); in training you would see: *",
            "*AttentionCase(*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


#: contracts 9-13, the debugging guide's components
GUIDE_COMPONENTS = ("numerics", "metrics", "data", "normalization", "optimization")


@pytest.mark.slow
def test_impl_runs_each_guide_contract_against_a_users_file_and_names_the_layer_of_a_failure(pytester):
    # A correct file per component passes every property; a file with one bug (the first site
    # of the kill matrix for that component) fails, naming the layer and the symptom.
    files = write_impl_files(pytester, builtin_registry(), GUIDE_COMPONENTS)

    correct = run(pytester, "--mlbugs-seed=1", *files.correct_args)
    correct.assert_outcomes(passed=files.properties)

    broken = run(pytester, "--mlbugs-seed=1", *files.buggy_args)
    assert broken.ret == pytest.ExitCode.TESTS_FAILED
    for name in GUIDE_COMPONENTS:
        broken.stdout.fnmatch_lines(
            [
                f"*buggy_{name}.py breaks the {name} contract: *",
                "Debugging layer * of 7 (*); in training you would see: *",
            ]
        )


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes, less what pytester itself writes there (its
    --basetemp folders and the captured stdout/stderr of the subprocess)."""
    pytesters_own = ("runpytest-", "stdout", "stderr")
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.relative_to(root).parts[0].startswith(pytesters_own)
    }


@pytest.mark.slow
def test_a_session_writes_nothing_into_the_users_tree(pytester):
    pytester.makepyfile(test_plain="def test_ok():\n    assert True\n")
    before = _tree(pytester.path)
    result = run(pytester, "--mlbugs-seed=5", "--mlbugs-components=attention,masks")
    assert result.ret == 0
    result = run(pytester, "--mlbugs-impl=attention=" + str(_write_reference(pytester)))
    assert result.ret == 0
    assert _tree(pytester.path) == before | {"impl/attention.py": ATTENTION_REFERENCE.encode()}


def _write_reference(pytester: pytest.Pytester) -> Path:
    path = pytester.path / "impl" / "attention.py"
    path.parent.mkdir()
    path.write_text(ATTENTION_REFERENCE)
    return path


def _without_timings(report: dict) -> dict:
    for variant in report["mlbugs"]["variants"]:
        variant.pop("seconds")
    for reference in report["mlbugs"]["references"]:
        reference.pop("seconds")
    for file in report["files"].values():
        for mutant in file["mutants"]:
            mutant.pop("duration")
    report.pop("framework")
    report["mlbugs"].pop("versions")
    return report


@pytest.mark.slow
def test_xdist_gives_the_same_verdicts_and_report_as_a_serial_run(pytester):
    pytest.importorskip("xdist")
    args = ("--mlbugs-seed=11", "--mlbugs-count=10", "--mlbugs-max-bugs=2")
    serial = run(pytester, *args, "--mlbugs-report=serial.json")
    parallel = run(pytester, *args, "--mlbugs-report=parallel.json", "-n", "2")
    assert serial.ret == parallel.ret
    assert serial.parseoutcomes() == parallel.parseoutcomes()
    reports = [json.loads(Path(pytester.path, f"{name}.json").read_text()) for name in ("serial", "parallel")]
    assert _without_timings(reports[0]) == _without_timings(reports[1])
    assert len(reports[0]["mlbugs"]["variants"]) == 10


def test_report_follows_the_mutation_testing_report_schema(pytester):
    result = run(pytester, "--mlbugs-seed=8", "--mlbugs-components=attention", "--mlbugs-report=r.json")
    assert result.ret == 0
    report = json.loads(Path(pytester.path, "r.json").read_text())
    assert report["schemaVersion"] == "2"
    ((path, file),) = report["files"].items()
    assert path == "reference_impls/attention.py"
    assert file["source"] == ATTENTION_REFERENCE
    for mutant in file["mutants"]:
        assert mutant["status"] == "Killed"
        assert set(mutant["location"]) == {"start", "end"}
        assert mutant["location"]["start"]["line"] >= 1 and mutant["location"]["start"]["column"] >= 1
        assert mutant["killedBy"][0].startswith("attention.")
    assert report["mlbugs"]["seed"] == 8
    assert {"torch", "hypothesis", "libcst", "pytest"} <= set(report["mlbugs"]["versions"])
