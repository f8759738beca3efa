"""``--mlbugs-device``: the option, the skips without a GPU, and the plumbing in every suite.

No GPU is needed to show that the suites really route their tensors through
:mod:`pytest_mlbugs.devices`: :class:`SimulatedAccelerator` treats what ``devices.put`` returns
(and every tensor computed from it) as living on an accelerator, everything else as living on
the CPU, and raises as CUDA does when one operation mixes the two. Every reference must pass
its whole suite under it, so a tensor a property builds without the helper (and then mixes with
the moved ones) fails here, on a machine without a GPU.
"""

from __future__ import annotations

import contextlib
import gc
import json
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from pytest_mlbugs import devices, reference_impls
from pytest_mlbugs.judging import judge_reference
from pytest_mlbugs.registry import builtin_registry
from pytest_mlbugs.seeds import derive_seed
from pytest_mlbugs.verdict import Status
from tests.support.accelerator import CrossDevice, SimulatedAccelerator

COMPONENTS = sorted(builtin_registry().components)
CUDA_REASON = "torch.cuda.is_available() is False on this machine; run without it or on a machine with a GPU"


# ---------------------------------------------------------------------------------------------
# the helpers


def test_helpers_are_the_identity_on_the_cpu() -> None:
    assert devices.current() == torch.device("cpu")
    x = torch.randn(3)
    module = torch.nn.Linear(2, 2)
    assert devices.put(x) is x
    assert devices.put(module) is module
    assert devices.put(None) is None
    assert devices.kwargs() == {}
    assert devices.to_cpu(x) is x
    assert devices.tensor([1, 2]).device.type == "cpu"


@contextlib.contextmanager
def session_device(spec: str) -> Iterator[None]:
    previous = devices.current()
    devices.set_device(spec)
    try:
        yield
    finally:
        devices.set_device(previous)


def test_helpers_move_to_another_device() -> None:
    with session_device("meta"):
        assert devices.put(torch.randn(3)).device.type == "meta"
        module = devices.put(torch.nn.Linear(2, 2))
        assert all(p.device.type == "meta" for p in module.parameters())
        assert devices.tensor([1.0]).device.type == "meta"
        assert devices.kwargs() == {"device": torch.device("meta")}
        a, b = devices.put_all(torch.ones(1), torch.zeros(1))
        assert a.device.type == b.device.type == "meta"
    assert devices.current() == torch.device("cpu")


def test_unavailable_reasons() -> None:
    assert devices.unavailable_reason("cpu") is None
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        assert devices.unavailable_reason("cuda") is None
        assert f"has {count} CUDA device" in (devices.unavailable_reason(f"cuda:{count}") or "")
    else:
        assert devices.unavailable_reason("cuda") == f"--mlbugs-device=cuda: {CUDA_REASON}"
        assert devices.unavailable_reason("cuda:3") == f"--mlbugs-device=cuda:3: {CUDA_REASON}"


def test_the_simulator_catches_what_cuda_would(monkeypatch: pytest.MonkeyPatch) -> None:
    """The control: mixing a put tensor with an unmoved one raises; what CUDA allows does not."""
    with SimulatedAccelerator().installed(monkeypatch) as sim:
        x = devices.put(torch.randn(4, 3))
        with pytest.raises(CrossDevice):
            _ = x + torch.randn(4, 3)  # a tensor built without the helper
        with pytest.raises(CrossDevice):
            _ = torch.cat([x, torch.zeros(1, 3)])
        layer = torch.nn.Linear(3, 2)
        with pytest.raises(CrossDevice):
            layer(x)  # a module that was not moved
        moved = devices.put(torch.nn.Linear(3, 2))
        y = moved(x.transpose(0, 1).transpose(0, 1)[1:])  # views keep their place
        _ = y * torch.tensor(2.0)  # a 0-dim CPU tensor mixes, as on CUDA
        _ = x + torch.zeros(3, device=x.device)  # an explicit device= follows
        _ = x[torch.tensor([0, 2])]  # CPU indices are allowed on CUDA
        y.sum().backward()
        assert moved.weight.grad is not None
        x[0] = torch.ones(3)  # so is copying into a device tensor
        _ = devices.to_cpu(x) + torch.ones(4, 3)
        assert sim.mixes == 3


def test_a_freed_storages_tag_does_not_pass_to_a_tensor_at_its_address() -> None:
    """The allocator reuses addresses: a CPU tensor that lands where a moved one was freed is
    still on the CPU (before, such a tensor made a suite fail here now and then). A storage
    kept alive by a view or by a parameter wrapped around it keeps its place."""
    sim = SimulatedAccelerator()
    gone = torch.ones(2)
    freed = weakref.ref(gone.untyped_storage())
    del gone
    gc.collect()
    assert freed() is None
    fresh = torch.zeros(2)
    key = sim.key(fresh)
    assert key is not None
    sim.tagged[key] = (True, freed)  # what a moved tensor freed at this address left behind
    assert not sim.is_tagged(fresh)
    moved = sim.put(fresh)
    view, wrapped = moved[1:], torch.nn.Parameter(moved)
    del moved
    gc.collect()
    assert sim.is_tagged(view) and sim.is_tagged(wrapped)


@pytest.mark.slow
@pytest.mark.parametrize("component", COMPONENTS)
def test_every_reference_passes_its_suite_on_a_simulated_accelerator(
    component: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every property builds its tensors and modules through the helpers: none mixes a moved
    tensor with one left on the CPU (which a GPU run would turn into an error)."""
    registry = builtin_registry()
    with SimulatedAccelerator().installed(monkeypatch) as sim:
        verdict = judge_reference(
            registry.components[component],
            module_name=f"_mlbugs_device_{component}",
            seed=derive_seed(0, "device", component),
        )
    failures = "\n".join(f"{f.property}: {f.message}" for f in verdict.failures)
    assert verdict.status == Status.PASSED, f"{verdict.detail}\n{failures}"
    assert sim.puts > 0, f"the {component} suite never called devices.put"


def test_a_property_that_skips_the_helper_fails_on_the_simulated_accelerator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check above has teeth: with the attention inputs built without ``devices.put`` (the
    module still moved) the attention suite fails under the simulator."""
    from pytest_mlbugs.properties import attention

    unmoved = attention.inputs

    def inputs_left_on_the_cpu(case: Any) -> Any:
        with monkeypatch.context() as inner:
            inner.setattr(devices, "put", lambda value: value)
            return unmoved(case)

    monkeypatch.setattr(attention, "inputs", inputs_left_on_the_cpu)
    with SimulatedAccelerator().installed(monkeypatch):
        verdict = judge_reference(
            builtin_registry().components["attention"], module_name="_mlbugs_device_unmoved", seed=1
        )
    assert verdict.status != Status.PASSED
    assert any("same device (simulated)" in f.message for f in verdict.failures), verdict.failures


# ---------------------------------------------------------------------------------------------
# the option, end to end


def test_cuda_without_a_gpu_skips_every_item_with_the_reason(pytester: pytest.Pytester) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the items run instead")
    report = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-rs",
        "--mlbugs-seed=3",
        "--mlbugs-components=masks",
        "--mlbugs-device=cuda",
        f"--mlbugs-report={report}",
    )
    assert result.ret == 0
    outcomes = result.parseoutcomes()
    # the reference and every variant of the masks mutators
    assert outcomes.get("skipped", 0) > 5 and set(outcomes) == {"skipped"}, outcomes
    result.stdout.fnmatch_lines([f"*--mlbugs-device=cuda: {CUDA_REASON}*"])
    assert "survived" not in result.stdout.str().lower()  # no table counts a skipped variant
    data = json.loads(report.read_text())
    assert data["mlbugs"]["variants"] == [] and data["mlbugs"]["score"] is None
    assert data["mlbugs"]["settings"]["device"] == "cuda"

    impl = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-rs",
        "--mlbugs-device=cuda",
        f"--mlbugs-impl=masks={_reference_path('masks')}",
    )
    assert impl.ret == 0
    assert impl.parseoutcomes() == {"skipped": 5}  # one item per property of the masks suite
    impl.stdout.fnmatch_lines([f"*{CUDA_REASON}*"])


def test_device_from_the_ini_file_and_cpu_runs(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmlbugs_device = cuda:7\n")
    args = ("-p", "no:cacheprovider", "--mlbugs-seed=3", "--mlbugs-components=masks", "--mlbugs-count=2")
    result = pytester.runpytest_subprocess(*args)
    if not torch.cuda.is_available() or torch.cuda.device_count() <= 7:
        assert result.ret == 0
        outcomes = result.parseoutcomes()
        assert outcomes.get("skipped") == 3 and "passed" not in outcomes, outcomes
    cpu = pytester.runpytest_subprocess(*args, "--mlbugs-device=cpu")
    assert cpu.ret == 0
    assert cpu.parseoutcomes().get("passed") == 3


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("gpu", "--mlbugs-device=gpu: unknown device; choose cpu, cuda or cuda:N (N a GPU index)"),
        ("cuda:x", "--mlbugs-device=cuda:x: unknown device; choose cpu, cuda or cuda:N (N a GPU index)"),
        ("", "--mlbugs-device=: unknown device; choose cpu, cuda or cuda:N (N a GPU index)"),
    ],
)
def test_bad_device_values_are_one_line_usage_errors(
    pytester: pytest.Pytester, value: str, message: str
) -> None:
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--mlbugs-device={value}")
    assert result.ret == 4
    # only pytest's own error lines: without numpy, importing torch prints a warning first
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert errors == [f"ERROR: {message}"], result.stderr.lines
    assert "Traceback" not in result.stderr.str()


def test_a_fork_isolation_with_cuda_is_refused(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--mlbugs-device=cuda", "--mlbugs-isolation=fork"
    )
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        ["ERROR: --mlbugs-device=cuda: a forked child cannot use CUDA*isolation=none*"]
    )


def _reference_path(component: str) -> str:
    return str(Path(reference_impls.__file__).parent / f"{component}.py")


# ---------------------------------------------------------------------------------------------
# on a machine with a GPU


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("component", COMPONENTS)
def test_every_reference_passes_its_suite_on_cuda(component: str) -> None:
    with session_device("cuda"):
        verdict = judge_reference(
            builtin_registry().components[component],
            module_name=f"_mlbugs_cuda_{component}",
            seed=derive_seed(0, "cuda", component),
        )
    failures = "\n".join(f"{f.property}: {f.message}" for f in verdict.failures)
    assert verdict.status == Status.PASSED, f"{verdict.detail}\n{failures}"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_kill_matrix_of_a_few_components_on_cuda(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--mlbugs-seed=5",
        "--mlbugs-components=attention,masks,numerics",
        "--mlbugs-device=cuda",
    )
    assert result.ret == 0, result.stdout.str()[-3000:]
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) > 10 and "skipped" not in outcomes
