"""A simulated accelerator: the device bugs a GPU would show, observed on the CPU.

:class:`SimulatedAccelerator` treats what :func:`pytest_mlbugs.devices.put` returns (and every
tensor computed from it) as living on an accelerator, everything else as living on the CPU, and
raises as CUDA does when one operation mixes the two. Installed, it replaces the public seams of
:mod:`pytest_mlbugs.devices` (``put``, ``to_cpu``, ``kwargs``) for the test that uses it.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from pytest_mlbugs import devices


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
