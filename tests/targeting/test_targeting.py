"""``--mlbugs-target``: the user's own code, mutated in memory, judged by the user's own tests."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from pytest_mlbugs.targeting.mutants import changed_lines, ignore_comments
from pytest_mlbugs.targeting.swap import swap_module
from tests.support.paths import TARGET_EXAMPLE

EXAMPLE = TARGET_EXAMPLE
NO_PLUGINS = ("-p", "no:cacheprovider", "-p", "no:benchmark")

#: a small package: a decorated function, an nn.Module with a buffer, a train step
OPS = textwrap.dedent(
    """
    import torch
    import torch.nn.functional as F
    from torch import nn


    @torch.no_grad()
    def predict(model, x):
        model.eval()
        return F.softmax(model(x), dim=-1)


    class Scaler(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.register_buffer("scale", torch.ones(d))

        def forward(self, x):
            return x * self.scale
    """
)

OPS_TESTS = textwrap.dedent(
    """
    import torch
    from torch import nn

    from minipkg.ops import Scaler, predict


    def test_predict_rows_sum_to_one_in_eval_mode_without_grad():
        model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5))
        probs = predict(model, torch.randn(2, 3))
        torch.testing.assert_close(probs.sum(dim=-1), torch.ones(2))
        assert probs.shape == (2, 4) and not probs.requires_grad and not model.training


    def test_scaler_keeps_its_scale_in_the_state_dict():
        assert "scale" in Scaler(3).state_dict()
    """
)


def write_project(pytester: pytest.Pytester, ops: str = OPS, tests: str = OPS_TESTS) -> None:
    pytester.mkpydir("minipkg")
    pytester.path.joinpath("minipkg", "ops.py").write_text(ops)
    pytester.makepyfile(test_ops=tests)


def tree_digest(root: Path, skip: tuple[str, ...] = ()) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.parent == root and path.name in skip:
            continue
        if path.is_file() and "__pycache__" not in path.parts and ".pytest_cache" not in path.parts:
            digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


# -- in memory: the pieces ----------------------------------------------------------------------


def test_ignore_comment_speaks_for_its_own_line_or_the_line_below() -> None:
    source = "a = 1  # mlbugs: ignore[bug_a, bug_b] equivalent here\n# mlbugs: ignore[bug_c]\nb = 2\n"
    found = ignore_comments(source)
    assert found[1] == (frozenset({"bug_a", "bug_b"}), "equivalent here")
    assert found[3] == (frozenset({"bug_c"}), "no reason given")


def test_changed_lines_name_the_removed_line_not_the_whole_block() -> None:
    before = "def f(m):\n    m.eval()\n    return m\n"
    assert changed_lines(before, "def f(m):\n    return m\n") == (2,)


def _load(tmp_path: Path, name: str, source: str):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module, path


def test_swap_reaches_references_taken_before_it_in_methods_init_and_decorated_functions(
    tmp_path: Path,
) -> None:
    module, path = _load(tmp_path, "mlbugs_swap_subject", OPS)
    try:
        predict, scaler_class = module.predict, module.Scaler  # as `from ops import ...` holds them
        instance_before = scaler_class(2)
        mutated = (
            OPS.replace("dim=-1", "dim=0")
            .replace("torch.ones(d)", "torch.full((d,), 3.0)")
            .replace("x * self.scale", "x * self.scale * 2")
        )
        swap_module(module, mutated, filename=str(path))
        probs = predict(torch.nn.Linear(3, 4), torch.randn(2, 3))
        torch.testing.assert_close(probs.sum(dim=0), torch.ones(4))  # the decorated body was swapped
        assert not probs.requires_grad  # and its decorator still applies
        assert module.Scaler is scaler_class
        assert torch.equal(scaler_class(2).scale, torch.full((2,), 3.0))  # __init__, super() intact
        assert torch.equal(instance_before(torch.ones(2)), torch.full((2,), 2.0))  # forward, old instance
    finally:
        del sys.modules["mlbugs_swap_subject"]


def test_swap_rebinds_a_function_whose_decorator_the_mutant_removed(tmp_path: Path) -> None:
    module, path = _load(tmp_path, "mlbugs_swap_decorator", OPS)
    importer = type(sys)("mlbugs_swap_importer")
    importer.predict = module.predict
    sys.modules[importer.__name__] = importer
    try:
        swap_module(module, OPS.replace("@torch.no_grad()\n", ""), filename=str(path))
        assert importer.predict is module.predict
        assert importer.predict(torch.nn.Linear(3, 4), torch.randn(2, 3)).requires_grad
    finally:
        del sys.modules["mlbugs_swap_decorator"], sys.modules["mlbugs_swap_importer"]


# -- through pytest -----------------------------------------------------------------------------


def test_mutants_of_decorated_functions_and_init_bodies_are_judged_by_the_users_tests(
    pytester: pytest.Pytester,
) -> None:
    write_project(pytester)
    report = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(
        *NO_PLUGINS, "--mlbugs-target=minipkg/ops.py", f"--mlbugs-report={report}", "--mlbugs-fail-under=100"
    )
    data = json.loads(report.read_text())
    mutants = {m["mutatorName"]: m for m in data["files"]["minipkg/ops.py"]["mutants"]}
    assert data["schemaVersion"] == "2" and "source" in data["files"]["minipkg/ops.py"]
    assert mutants["softmax_wrong_dim"]["status"] == "Killed"
    assert mutants["softmax_wrong_dim"]["killedBy"] == [
        "test_ops.py::test_predict_rows_sum_to_one_in_eval_mode_without_grad"
    ]
    assert mutants["no_grad_missing"]["status"] == "Killed"  # the decorator removed
    assert mutants["buffer_not_registered"]["status"] == "Killed"  # inside __init__
    assert mutants["eval_mode_missing"]["status"] == "Killed"
    survivors = [m for m in mutants.values() if m["status"] != "Killed"]
    assert survivors, "the suite is not that strong: something must survive"
    result.stdout.fnmatch_lines(["*mutation score:*", "--mlbugs-fail-under=100: FAILED"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_ignore_comment_excludes_the_site_but_lists_it_with_its_reason(pytester: pytest.Pytester) -> None:
    write_project(
        pytester, OPS.replace("dim=-1)", "dim=-1)  # mlbugs: ignore[softmax_wrong_dim] rows, not columns")
    )
    result = pytester.runpytest_subprocess(
        *NO_PLUGINS, "--mlbugs-target=minipkg.ops", "--mlbugs-mutators=softmax_wrong_dim"
    )
    result.stdout.fnmatch_lines(["ignored sites:", "*minipkg/ops.py:10 softmax_wrong_dim: rows, not columns"])
    assert result.ret == 0


def test_a_misspelled_bug_id_in_a_pragma_is_a_warning_naming_it(pytester: pytest.Pytester) -> None:
    write_project(pytester, OPS.replace("dim=-1)", "dim=-1)  # mlbugs: ignore[softmax_wrong_dims] rows"))
    args = (*NO_PLUGINS, "--mlbugs-target=minipkg.ops", "--mlbugs-mutators=softmax_wrong_dim")
    result = pytester.runpytest_subprocess(*args)
    result.stdout.fnmatch_lines(
        [
            "*minipkg/ops.py:10: PragmaWarning: unknown bug ID 'softmax_wrong_dims' in "
            "'# mlbugs: ignore?...?'; did you mean softmax_wrong_dim*"  # ? for fnmatch's [ and ]
        ]
    )
    # the misspelled pragma ignores nothing: its mutant is judged
    result.stdout.no_fnmatch_line("ignored sites:")
    strict = pytester.runpytest_subprocess(*args, "-W", "error")
    strict.stderr.fnmatch_lines(["ERROR: minipkg/ops.py:10: unknown bug ID 'softmax_wrong_dims'*"])
    assert strict.ret == pytest.ExitCode.USAGE_ERROR
    assert "Traceback" not in strict.stderr.str() + strict.stdout.str()


def test_a_mutant_that_cannot_be_imported_is_an_error_never_a_detection(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        '''
        import libcst as cst
        from pytest_mlbugs.api import Category, Layer, Mutator


        class import_breaks(Mutator):
            """Imports a module that does not exist."""

            bug_id = "import_breaks"
            components = ("attention",)
            category = Category.SHAPES
            layer = Layer.SHAPES
            description = "import a module that does not exist"
            symptom = hint = fix = "none"
            node_types = (cst.Import,)

            def mutations(self, node):
                return (cst.parse_statement("import no_such_module_anywhere").body[0],)


        def pytest_mlbugs_register(registry):
            registry.add_mutator(import_breaks)
        '''
    )
    write_project(pytester)
    result = pytester.runpytest_subprocess(
        *NO_PLUGINS, "--mlbugs-target=minipkg/ops.py", "--mlbugs-mutators=import_breaks"
    )
    result.stdout.fnmatch_lines(["*ERROR*import_breaks*the mutant raised at import: ModuleNotFoundError*"])
    result.stdout.fnmatch_lines(["*mutation score: 0.0% (0 of * mutants detected*"])


def test_a_failing_clean_run_stops_before_any_mutant_and_names_the_test(pytester: pytest.Pytester) -> None:
    write_project(pytester, tests=OPS_TESTS + "\n\ndef test_already_broken():\n    assert False\n")
    result = pytester.runpytest_subprocess(*NO_PLUGINS, "--mlbugs-target=minipkg/ops.py")
    result.stdout.fnmatch_lines(
        ["*the clean run failed: 1 test(s) fail without any mutant: test_ops.py::test_already_broken*"]
    )
    assert "mutation score" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_tests_that_swallow_every_failure_fail_the_forced_fail_check(pytester: pytest.Pytester) -> None:
    tests = textwrap.dedent(
        """
        from minipkg.ops import Scaler

        def test_swallows():
            try:
                Scaler(2)
            except Exception:
                pass
        """
    )
    write_project(pytester, tests=tests)
    result = pytester.runpytest_subprocess(*NO_PLUGINS, "--mlbugs-target=minipkg/ops.py")
    result.stdout.fnmatch_lines(["*forced-fail check*minipkg/ops.py*judged survived*"])
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR


def test_a_rerun_with_nothing_changed_takes_every_verdict_from_the_cache(pytester: pytest.Pytester) -> None:
    write_project(pytester)
    runs = [
        pytester.runpytest_subprocess("-p", "no:benchmark", "--mlbugs-target=minipkg/ops.py")
        for _ in range(2)
    ]
    first, second = (next(line for line in run.stdout.lines if "mutation score" in line) for run in runs)
    judged = int(first.split(" of ")[1].split()[0])
    assert "0 verdict(s) from the cache" in first and f"{judged} verdict(s) from the cache" in second
    assert first.split(";")[0] == second.split(";")[0]  # the same score
    # nothing was judged again; how much faster that is, benchmarks/bench_target.py measures
    # (a timed assertion here would depend on the machine being idle)
    assert "0.00 s of it judging mutants" in second


def test_bad_options_are_one_line_usage_errors(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(*NO_PLUGINS, "--mlbugs-target=missing/model.py")
    result.stderr.fnmatch_lines(["ERROR: --mlbugs-target=missing/model.py: missing/model.py does not exist*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result = pytester.runpytest_subprocess(*NO_PLUGINS, "--mlbugs-target=x.py", "--mlbugs-fail-under=lots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


#: user code with the two guide bugs no reference's property suite reaches through a log:
#: a log guarded by an epsilon, and a classifier loss
LOSSES = textwrap.dedent(
    """
    import torch
    import torch.nn.functional as F


    def predictive_entropy(probs):
        return -(probs * torch.log(probs + 1e-12)).sum(dim=-1)


    def classification_loss(logits, targets):
        return F.cross_entropy(logits, targets)
    """
)

LOSSES_WEAK_TESTS = textwrap.dedent(
    """
    import torch

    from minipkg.ops import classification_loss, predictive_entropy


    def test_entropy_is_not_negative():
        assert (predictive_entropy(torch.softmax(torch.randn(4, 3), dim=-1)) >= 0).all()


    def test_loss_is_a_positive_scalar():
        assert classification_loss(torch.randn(4, 3), torch.tensor([0, 1, 2, 0])).item() > 0
    """
)

LOSSES_STRONG_TESTS = textwrap.dedent(
    """
    import math

    import torch

    from minipkg.ops import classification_loss, predictive_entropy


    def test_a_certain_prediction_has_zero_entropy_and_a_uniform_one_log_c():
        entropy = predictive_entropy(torch.tensor([[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]]))
        torch.testing.assert_close(entropy, torch.tensor([0.0, math.log(3)]))


    def test_loss_is_the_negative_log_likelihood_of_the_targets():
        logits, targets = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
        expected = -torch.log_softmax(logits, dim=-1)[torch.arange(4), targets].mean()
        torch.testing.assert_close(classification_loss(logits, targets), expected)
    """
)


def test_log_epsilon_and_classifier_loss_bugs_are_made_in_user_code(pytester: pytest.Pytester) -> None:
    pytester.mkpydir("minipkg")
    pytester.path.joinpath("minipkg", "ops.py").write_text(LOSSES)
    pytester.makepyfile(test_weak=LOSSES_WEAK_TESTS, test_strong=LOSSES_STRONG_TESTS)
    verdicts = {}
    for suite in ("test_weak.py", "test_strong.py"):
        report = pytester.path / f"{suite}.json"
        pytester.runpytest_subprocess(
            *NO_PLUGINS, suite, "--mlbugs-target=minipkg/ops.py", f"--mlbugs-report={report}",
            "--mlbugs-mutators=epsilon_missing,mse_on_class_logits",
        )  # fmt: skip
        mutants = json.loads(report.read_text())["mlbugs"]["mutants"]
        verdicts[suite] = sorted((m["bug_id"], m["status"]) for m in mutants)
    bugs = ("epsilon_missing", "mse_on_class_logits")
    assert verdicts["test_weak.py"] == [(bug, "survived") for bug in bugs]
    assert verdicts["test_strong.py"] == [(bug, "detected") for bug in bugs]


@pytest.mark.slow
def test_weak_suite_lets_bugs_survive_and_the_strong_suite_catches_them_all(tmp_path: Path) -> None:
    project = tmp_path / "example"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    runs = {}
    for suite in ("tests_weak", "tests_strong"):
        report = tmp_path / f"{suite}.json"
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", *NO_PLUGINS, "-q", suite, "--mlbugs-target=src/tinyclf",
             f"--mlbugs-report={report}", "--mlbugs-fail-under=100"],
            cwd=project, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        runs[suite] = (completed.returncode, json.loads(report.read_text()))
    weak_code, weak = runs["tests_weak"]
    strong_code, strong = runs["tests_strong"]
    weak_survivors = {m["bug_id"] for m in weak["mlbugs"]["mutants"] if m["status"] == "survived"}
    assert weak_code == 1 and len(weak_survivors) >= 15
    assert strong_code == 0 and strong["mlbugs"]["score"] == 100.0
    assert strong["mlbugs"]["ignored"][0]["bug_id"] == "division_by_zero_count"


def test_kill_9_in_the_middle_of_a_run_leaves_the_users_tree_unchanged(tmp_path: Path) -> None:
    project = tmp_path / "example"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    before = tree_digest(project)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", *NO_PLUGINS, "-v", "tests_strong", "--mlbugs-target=src/tinyclf"],
        cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + 120
    while b"mlbugs-target[" not in seen and time.monotonic() < deadline:  # mutants are being judged
        seen += process.stdout.read1(4096)
    time.sleep(1.0)
    assert process.poll() is None, "the run ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert tree_digest(project) == before


# -- the tracer sees threads; Hypothesis writes nothing into the user's tree -------------------


def test_line_tracer_records_code_run_in_a_thread_and_removes_itself(tmp_path: Path) -> None:
    import threading

    from pytest_mlbugs.targeting.coverage import LineTracer

    module, path = _load(tmp_path, "mlbugs_traced_in_thread", "def double(x):\n    return 2 * x\n")
    try:
        tracer = LineTracer({os.path.realpath(path)})
        with tracer:
            worker = threading.Thread(target=module.double, args=(3,))
            worker.start()
            worker.join()
        assert tracer.lines == {os.path.realpath(path): {1, 2}}
        assert threading.gettrace() is None and sys.gettrace() is None
    finally:
        del sys.modules["mlbugs_traced_in_thread"]


THREADED = textwrap.dedent(
    """
    import torch.nn.functional as F


    def row_probs(x):
        return F.softmax(x, dim=-1)
    """
)

THREADED_TESTS = textwrap.dedent(
    """
    import threading

    import torch

    from minipkg.ops import row_probs


    def test_rows_sum_to_one_when_a_worker_thread_computes_them():
        out = {}
        worker = threading.Thread(target=lambda: out.setdefault("probs", row_probs(torch.randn(3, 4))))
        worker.start()
        worker.join()
        torch.testing.assert_close(out["probs"].sum(dim=-1), torch.ones(3))
    """
)


def test_a_mutant_only_a_thread_executes_is_run_against_the_test_that_started_the_thread(
    pytester: pytest.Pytester,
) -> None:
    write_project(pytester, THREADED, THREADED_TESTS)
    report = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(
        *NO_PLUGINS, "--mlbugs-target=minipkg/ops.py", "--mlbugs-mutators=softmax_wrong_dim",
        f"--mlbugs-report={report}",
    )  # fmt: skip
    (mutant,) = json.loads(report.read_text())["files"]["minipkg/ops.py"]["mutants"]
    assert mutant["coveredBy"] == ["test_ops.py::test_rows_sum_to_one_when_a_worker_thread_computes_them"]
    assert mutant["status"] == "Killed"
    assert result.ret == 0


HYPOTHESIS_CONFTEST = textwrap.dedent(
    """
    from pathlib import Path

    from hypothesis import settings
    from hypothesis.database import DirectoryBasedExampleDatabase

    # a team profile with an explicit, absolute database in the project
    settings.register_profile(
        "team",
        database=DirectoryBasedExampleDatabase(Path(__file__).parent / ".hypothesis" / "team"),
        deadline=None,
    )
    settings.load_profile("team")

    # as on a machine without Landlock (macOS, older kernels): the child's writes are not confined
    import pytest_mlbugs.isolation.sandbox

    pytest_mlbugs.isolation.sandbox.confine_writes = lambda writable: False
    """
)

HYPOTHESIS_TESTS = textwrap.dedent(
    """
    import torch
    from hypothesis import given, settings, strategies as st
    from hypothesis.database import DirectoryBasedExampleDatabase
    from torch import nn

    from minipkg.ops import Scaler, predict


    @given(st.integers(1, 4), st.integers(1, 4))
    def test_predict_rows_sum_to_one(rows, features):
        probs = predict(nn.Linear(features, 3), torch.randn(rows, features))
        torch.testing.assert_close(probs.sum(dim=-1), torch.ones(rows))
        assert not probs.requires_grad


    @settings(database=DirectoryBasedExampleDatabase(".hypothesis/explicit"), max_examples=10, deadline=None)
    @given(st.integers(1, 4))
    def test_scaler_is_the_identity_at_first(d):
        x = torch.randn(d)
        torch.testing.assert_close(Scaler(d)(x), x)
        assert "scale" in Scaler(d).state_dict()
    """
)


@pytest.mark.slow
def test_killed_mutants_leave_no_example_in_the_users_hypothesis_database(pytester: pytest.Pytester) -> None:
    write_project(pytester, tests=HYPOTHESIS_TESTS)
    pytester.makeconftest(HYPOTHESIS_CONFTEST)
    # a target run whose mutators find no site: the clean run and the forced-fail check alone
    # (Hypothesis caches the literals of every module it thinks local, ours included when
    # installed in development mode, so a plain run is not the right "before")
    quiet = pytester.runpytest_subprocess(
        *NO_PLUGINS, "--mlbugs-target=minipkg/ops.py", "--mlbugs-mutators=zero_grad_missing"
    )
    quiet.stdout.fnmatch_lines(["*no mutant: no mutator has a site in the target*"])
    pytester_output = ("stdout", "stderr")  # runpytest_subprocess writes them here
    # Hypothesis' constants cache (a file per local module it has seen imported, literals only,
    # never an example) varies with what a run happens to import: left out of the comparison
    constants = pytester.path / ".hypothesis" / "constants"

    def examples_and_tree() -> tuple[list[Path], str]:
        stash = pytester.path.parent / "constants-aside"
        if constants.exists():
            constants.rename(stash)
        try:
            found = sorted(p for p in pytester.path.rglob("*") if ".hypothesis" in p.parts)
            return found, tree_digest(pytester.path, skip=pytester_output)
        finally:
            if stash.exists():
                stash.rename(constants)

    before = examples_and_tree()
    report = pytester.path.parent / "report.json"
    result = pytester.runpytest_subprocess(
        *NO_PLUGINS, "--mlbugs-target=minipkg/ops.py", f"--mlbugs-report={report}"
    )
    statuses = [m["status"] for m in json.loads(report.read_text())["files"]["minipkg/ops.py"]["mutants"]]
    assert statuses.count("Killed") >= 3, result.stdout.str()
    assert examples_and_tree() == before


# -- pytest -n ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_xdist_gives_the_serial_runs_verdicts_and_report(pytester: pytest.Pytester) -> None:
    write_project(pytester)
    reports = {}
    for name, extra in (("serial", ()), ("xdist", ("-n", "2"))):
        report = pytester.path / f"{name}.json"
        result = pytester.runpytest_subprocess(
            *NO_PLUGINS,
            *extra,
            "--mlbugs-seed=7",
            "--mlbugs-target=minipkg/ops.py",
            f"--mlbugs-report={report}",
        )
        # survivors fail their items, and so the run, as a session's do
        assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
        reports[name] = json.loads(report.read_text())
        for mutant in reports[name]["files"]["minipkg/ops.py"]["mutants"]:
            del mutant["duration"]  # timings differ, nothing else may
    statuses = [m["status"] for m in reports["serial"]["files"]["minipkg/ops.py"]["mutants"]]
    assert "Killed" in statuses and "Survived" in statuses
    assert reports["xdist"] == reports["serial"]
    result.stdout.fnmatch_lines(["*mutation score: *% (* of * mutants detected*"])


@pytest.mark.slow
def test_under_xdist_a_failing_clean_run_still_stops_every_verdict(pytester: pytest.Pytester) -> None:
    write_project(pytester, tests=OPS_TESTS + "\n\ndef test_already_broken():\n    assert False\n")
    result = pytester.runpytest_subprocess(*NO_PLUGINS, "-n", "2", "--mlbugs-target=minipkg/ops.py")
    result.stdout.fnmatch_lines(
        ["*the clean run failed: 1 test(s) fail without any mutant: test_ops.py::test_already_broken*"]
    )
    assert "mutation score" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED
