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
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from pytest_mlbugs import devices, reference_impls
from pytest_mlbugs.registry import builtin_registry
from pytest_mlbugs.runner import PASSED, derive_seed, judge_reference

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


# ---------------------------------------------------------------------------------------------
# a simulated accelerator


class CrossDevice(RuntimeError):
    pass


#: factories whose ``device=`` argument places the result (seen at the Python level, where an
#: explicit ``device=`` is still distinguishable from the default)
FACTORIES = {
    getattr(torch, name)
    for name in (
        "arange", "empty", "eye", "full", "linspace", "ones", "rand", "randint", "randn", "randperm",
        "tensor", "tril", "zeros", "as_tensor", "tril_indices", "triu_indices",
    )
}  # fmt: skip
#: operations that may mix devices on CUDA too: copies, and index tensors on the CPU
MIXING_ALLOWED = ("copy_", "_to_copy", "index.Tensor", "index_put", "_index_put_impl", "lift_fresh")


class SimulatedAccelerator:
    """Tags storages as "on the accelerator": those ``devices.put`` returns, those an operation
    computes from a tagged input, and those a factory creates with an explicit ``device=``.
    An operation whose non-scalar tensor inputs are partly tagged raises :class:`CrossDevice`,
    as CUDA raises "Expected all tensors to be on the same device". 0-dim tensors mix freely,
    as CPU scalars do with CUDA tensors; ``meta`` tensors are left alone."""

    def __init__(self) -> None:
        # storage address -> (on the accelerator, the storage itself, weakly); the allocator
        # reuses a freed storage's address, so a tag whose storage is gone is stale and must not
        # pass to the next storage that lands there
        self.tagged: dict[int, tuple[bool, weakref.ref[torch.UntypedStorage]]] = {}
        self.mixes = 0
        self.puts = 0
        sim = self

        class Dispatch(TorchDispatchMode):
            def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
                return sim.dispatch(func, args, kwargs or {})

        class Functions(TorchFunctionMode):
            def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
                kwargs = kwargs or {}
                result = func(*args, **kwargs)
                if func is torch.Tensor.__deepcopy__:  # copies storages below the dispatcher
                    sim.tag(result, sim.is_tagged(args[0]))
                elif (
                    func in FACTORIES
                    and kwargs.get("device") is not None
                    and isinstance(result, torch.Tensor)
                ):
                    if torch.device(kwargs["device"]).type != "meta":
                        sim.tag(result, True)
                return result

        self.dispatch_mode = Dispatch()
        self.function_mode = Functions()

    @staticmethod
    def key(t: torch.Tensor) -> int | None:
        if t.device.type == "meta" or t.layout != torch.strided:
            return None
        return t.untyped_storage()._cdata  # type: ignore[attr-defined,no-any-return]

    def is_tagged(self, t: torch.Tensor) -> bool:
        key = self.key(t)
        if key is None or key not in self.tagged:
            return False
        value, storage = self.tagged[key]
        if storage() is not t.untyped_storage():
            del self.tagged[key]  # the tagged storage was freed and its address reused
            return False
        return value

    def tag(self, t: torch.Tensor, value: bool) -> None:
        key = self.key(t)
        if key is not None:
            self.tagged[key] = (value, weakref.ref(t.untyped_storage()))

    def dispatch(self, func: Any, args: Any, kwargs: Any) -> Any:
        name = str(func.name()).split("::")[-1]
        checked = args[:1] + args[2:] if name.startswith(("index", "_index_put")) else args
        inputs = [t for t in tree_flatten((checked, kwargs))[0] if isinstance(t, torch.Tensor)]
        inputs = [t for t in inputs if self.key(t) is not None]
        tags = {self.is_tagged(t) for t in inputs if t.dim() > 0}
        if len(tags) == 2 and not name.startswith(MIXING_ALLOWED):
            self.mixes += 1
            shapes = [(tuple(t.shape), "accelerator" if self.is_tagged(t) else "cpu") for t in inputs]
            raise CrossDevice(f"Expected all tensors to be on the same device (simulated): {name} {shapes}")
        out = func(*args, **kwargs)
        if func._schema.is_mutable:  # in-place: the destination keeps its place
            return out
        on_accelerator = any(self.is_tagged(t) for t in inputs)
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor):
                self.tag(t, on_accelerator)
        return out

    # what the suites call instead of moving to a real device
    def put(self, value: Any) -> Any:
        self.puts += 1
        if value is None:
            return None
        if isinstance(value, torch.nn.Module):
            for tensor in (*value.parameters(), *value.buffers()):
                self.tag(tensor, True)
            return value
        moved = value.clone()  # a new tensor, as .to(device) gives
        self.tag(moved, True)
        return moved

    def to_cpu(self, value: torch.Tensor) -> torch.Tensor:
        copied = value.clone()
        self.tag(copied, False)
        return copied

    @contextlib.contextmanager
    def installed(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatedAccelerator]:
        monkeypatch.setattr(devices, "put", self.put)
        monkeypatch.setattr(devices, "to_cpu", self.to_cpu)
        monkeypatch.setattr(devices, "kwargs", lambda: {"device": torch.device("cpu")})
        with self.function_mode, self.dispatch_mode:
            yield self


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
    assert verdict.status == PASSED, f"{verdict.detail}\n{failures}"
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
    assert verdict.status != PASSED
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
    assert verdict.status == PASSED, f"{verdict.detail}\n{failures}"


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
