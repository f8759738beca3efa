"""Third-party mutators and components: conftest and entry-point registration, origins, ID
clashes, and broken mutators that must not take a session down.

The worked example under ``examples/mlbugs_plugin_example`` is loaded through its real entry
points without installing it: a ``.dist-info`` folder next to a copy of the package, on the
``PYTHONPATH`` of a pytester subprocess, is exactly what ``importlib.metadata`` reads after
``pip install``.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import textwrap
import time
from pathlib import Path

import libcst as cst
import pytest

from pytest_mlbugs.api import Category, Layer, Mutator
from pytest_mlbugs.generator import plan_session
from pytest_mlbugs.mutation import engine
from pytest_mlbugs.registry import builtin_registry
from tests.support.paths import PLUGIN_EXAMPLE

EXAMPLE = PLUGIN_EXAMPLE
EXAMPLE_ORIGIN = "mlbugs-plugin-example 0.1.0"


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:benchmark", *args)


def example_entry_points() -> str:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    sections = []
    for group, entries in project["entry-points"].items():
        lines = [f"{name} = {target}" for name, target in entries.items()]
        sections.append("\n".join([f"[{group}]", *lines]))
    return "\n\n".join(sections) + "\n"


@pytest.fixture
def example_installed(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example package and its dist-info on the subprocess' PYTHONPATH, as pip lays them out."""
    site = pytester.path.parent / f"{pytester.path.name}-site"
    shutil.copytree(EXAMPLE / "mlbugs_plugin_example", site / "mlbugs_plugin_example")
    info = site / "mlbugs_plugin_example-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mlbugs-plugin-example\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(example_entry_points())
    monkeypatch.setenv("PYTHONPATH", str(site))
    return site


def test_installed_example_is_listed_with_its_origin_and_takes_part_in_a_seeded_session(
    pytester, example_installed
):
    listed = run(pytester, "--mlbugs-list")
    assert listed.ret == 0, listed.stderr.str()
    listed.stdout.fnmatch_lines(
        [
            "smoothing_not_divided_by_classes *label_smoothing *target *  [[]mlbugs-plugin-example 0.1.0]",
            "component label_smoothing: * [[]mlbugs-plugin-example 0.1.0]",
        ]
    )
    session = run(pytester, "--mlbugs-seed=1", "--mlbugs-components=label_smoothing", "-v")
    session.assert_outcomes(passed=2)
    session.stdout.fnmatch_lines(
        [
            "*mlbugs::label_smoothing::reference PASSED*",
            "*mlbugs::label_smoothing::smoothing_not_divided_by_classes*PASSED*",
        ]
    )


def test_installed_example_passes_the_mutator_check(pytester, example_installed):
    result = run(pytester, "--mlbugs-check-mutators", "--mlbugs-components=label_smoothing", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*mlbugs-check::smoothing_not_divided_by_classes PASSED*"])


def test_a_conftest_claiming_an_installed_bug_id_is_a_usage_error_naming_both_origins(
    pytester, example_installed
):
    pytester.makeconftest(
        """
        from mlbugs_plugin_example.mutators import SmoothingNotDividedByClasses

        class Again(SmoothingNotDividedByClasses):
            '''The same bug ID again.'''

        def pytest_mlbugs_register(registry):
            registry.add_mutator(Again)
        """
    )
    result = run(pytester, "--mlbugs-list")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: bug ID 'smoothing_not_divided_by_classes' is claimed twice: "
            f"by SmoothingNotDividedByClasses from {EXAMPLE_ORIGIN} and by Again from conftest.py; "
            "rename one of them*"
        ]
    )


def test_an_entry_point_that_cannot_be_imported_is_a_usage_error_naming_its_package(
    pytester, example_installed
):
    (example_installed / "mlbugs_plugin_example-0.1.0.dist-info" / "entry_points.txt").write_text(
        "[pytest_mlbugs.mutators]\nghost = mlbugs_plugin_example.no_such_module:Ghost\n"
    )
    result = run(pytester, "--mlbugs-seed=1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: entry point ghost = mlbugs_plugin_example.no_such_module:Ghost in group "
            f"pytest_mlbugs.mutators ({EXAMPLE_ORIGIN}) failed to load: ModuleNotFoundError*"
        ]
    )
    assert "Traceback" not in result.stderr.str()


def test_the_example_is_found_when_really_installed(pytester):
    # installed as a distribution, not merely importable (another test imports it from the tree)
    try:
        importlib.metadata.distribution("mlbugs-plugin-example")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("install it first: python -m pip install --no-deps ./examples/mlbugs_plugin_example")
    result = run(pytester, "--mlbugs-list")
    assert result.ret == 0
    result.stdout.fnmatch_lines([f"smoothing_not_divided_by_classes *[[]{EXAMPLE_ORIGIN}]"])


# ---------------------------------------------------------------------------------------------
# broken mutators


#: the broken mutators, as source: defined in this module for the in-process tests, and written
#: into a conftest for the subprocess ones (one text for both)
BROKEN_SOURCE = textwrap.dedent(
    '''
    class _Broken(Mutator):
        """A deliberately broken mutator for these tests."""

        components = ("attention",)
        category = Category.SHAPES
        layer = Layer.SHAPES
        description = "broken on purpose"
        symptom = hint = fix = "none"
        node_types = (cst.Call,)


    class raises_on_calls(_Broken):
        """Raises on the first call it is offered."""

        bug_id = "raises_on_calls"

        def mutations(self, node):
            raise RuntimeError("the matcher has a bug")


    class loops_forever(_Broken):
        """Never returns."""

        bug_id = "loops_forever"

        def mutations(self, node):
            while True:
                pass


    class returns_a_string(_Broken):
        """Returns source text where libcst nodes belong."""

        bug_id = "returns_a_string"

        def mutations(self, node):
            return ["x + 1"]


    class never_compiles(_Broken):
        """Turns ``import math`` into a ``break`` outside any loop: no variant compiles."""

        bug_id = "never_compiles"
        node_types = (cst.SimpleStatementLine,)

        def mutations(self, node):
            if cst.Module([]).code_for_node(node).strip() == "import math":
                return (node.with_changes(body=[cst.Break()]),)
            return ()
    '''
)
_broken: dict[str, object] = {"cst": cst, "Category": Category, "Layer": Layer, "Mutator": Mutator}
exec(BROKEN_SOURCE, _broken)
raises_on_calls, loops_forever, returns_a_string, never_compiles = (
    _broken[name] for name in ("raises_on_calls", "loops_forever", "returns_a_string", "never_compiles")
)

BROKEN = (raises_on_calls, loops_forever, returns_a_string, never_compiles)


def test_broken_mutators_are_reported_and_the_others_get_exactly_their_usual_variants(monkeypatch):
    monkeypatch.setattr(engine, "MUTATOR_TIME_LIMIT", 0.5)  # where the engine reads it
    registry = builtin_registry()
    clean = registry.copy()
    for cls in BROKEN:
        registry.add_mutator(cls, origin="tests")
    selection = dict(seed=5, components=("attention", "masks"), count=None, max_bugs=3)
    broken: dict[str, str] = {}
    started = time.perf_counter()
    variants = plan_session(registry, mutators=sorted(registry.mutators), broken=broken, **selection)
    assert time.perf_counter() - started < 10
    never_compiles = broken.pop("never_compiles")
    assert never_compiles.startswith(
        "produced no usable variant of attention: produced code that does not compile: 'break' outside loop"
    )
    assert broken == {
        "raises_on_calls": "raised RuntimeError: the matcher has a bug (in reference_impls/attention.py)",
        "loops_forever": "took longer than 0.5 s in one pass over a module (a loop that never ends?) "
        "(in reference_impls/attention.py)",
        "returns_a_string": "mutations() returned a str where a libcst node belongs "
        "(in reference_impls/attention.py)",
    }
    expected = plan_session(clean, mutators=sorted(clean.mutators), **selection)
    assert [(v.source, v.bugs) for v in variants] == [(v.source, v.bugs) for v in expected]


CONFTEST_WITH_BROKEN_MUTATORS = (
    "import libcst as cst\n\n"
    "import pytest_mlbugs.mutation.engine\n"
    "from pytest_mlbugs.api import Category, Layer, Mutator\n\n"
    "pytest_mlbugs.mutation.engine.MUTATOR_TIME_LIMIT = 1.0\n"
    + BROKEN_SOURCE
    + textwrap.dedent(
        """

        def pytest_mlbugs_register(registry):
            registry.add_mutator(raises_on_calls)
            registry.add_mutator(loops_forever, origin="my-team")
        """
    )
)


@pytest.mark.slow
def test_a_session_reports_each_broken_mutator_by_name_and_origin_and_runs_the_rest(pytester):
    pytester.makeconftest(CONFTEST_WITH_BROKEN_MUTATORS)
    result = run(
        pytester,
        "--mlbugs-seed=3",
        "--mlbugs-components=attention",
        "--mlbugs-mutators=softmax_wrong_dim,raises_on_calls,loops_forever",
    )
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "BROKEN MUTATOR loops_forever (from my-team): took longer than 1 s in one pass *",
            "*The session ran without it. Check it alone with "
            "pytest --mlbugs-check-mutators --mlbugs-mutators=loops_forever",
        ]
    )
    result.stdout.fnmatch_lines(
        ["BROKEN MUTATOR raises_on_calls (from conftest.py): raised RuntimeError: the matcher has a bug *"]
    )
    result.stdout.fnmatch_lines(
        ["FAILED mlbugs::broken[[]loops_forever]*", "FAILED mlbugs::broken[[]raises_on_calls]*"]
    )


def test_a_conftest_mutator_is_listed_with_its_file_as_origin(pytester):
    pytester.makeconftest(CONFTEST_WITH_BROKEN_MUTATORS)
    result = run(pytester, "--mlbugs-list")
    assert result.ret == 0
    listed = {line.split()[0]: line for line in result.outlines if line.strip()}
    assert listed["loops_forever"].endswith("broken on purpose  [my-team]")
    assert listed["raises_on_calls"].endswith("broken on purpose  [conftest.py]")


def test_a_conftest_reusing_a_builtin_bug_id_is_a_usage_error_naming_both_origins(pytester):
    pytester.makeconftest(
        """
        from pytest_mlbugs.registry import builtin_registry

        Ours = type(builtin_registry().mutators["softmax_wrong_dim"])

        class Mine(Ours):
            '''My own softmax bug under a taken ID.'''

        def pytest_mlbugs_register(registry):
            registry.add_mutator(Mine)
        """
    )
    result = run(pytester, "--mlbugs-seed=1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: bug ID 'softmax_wrong_dim' is claimed twice: "
            "by * from pytest-mlbugs and by Mine from conftest.py*"
        ]
    )
