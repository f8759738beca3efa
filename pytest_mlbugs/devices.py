"""The device the property suites run on (``--mlbugs-device``).

The session sets it once, when pytest is configured and before any variant is forked, so every
forked child inherits it. Strategies go on drawing every tensor on the CPU from their seeded
generators, so a case holds the same numbers on every device; the suites then move what they
build with :func:`put` (tensors, modules, ``None`` passes through) and ask for new tensors with
:func:`tensor` or :func:`kwargs`. On the CPU every helper returns its argument itself: a CPU run
is the run the suites made before devices existed, draw for draw and verdict for verdict.

Properties that exercise device bugs on purpose (the ``meta`` device, a default device) keep
doing so and do not call these helpers there; an oracle that wants the CPU (a float64 closed
form) computes there and is moved with :func:`put` before it is compared.
"""

from __future__ import annotations

from typing import Any, TypeVar

import torch

OPTION = "--mlbugs-device"
CPU = torch.device("cpu")

_device: torch.device = CPU

T = TypeVar("T")


def current() -> torch.device:
    """The session's device (``cpu`` unless ``--mlbugs-device`` says otherwise)."""
    return _device


def set_device(spec: str | torch.device) -> torch.device:
    """Make ``spec`` the device of every suite in this process (and the children it forks)."""
    global _device
    _device = torch.device(spec)
    return _device


def put(value: T) -> T:
    """``value`` (a tensor, a module, or ``None``) on the session's device; itself on the CPU.

    A module moves in place, as ``nn.Module.to`` does. A tensor comes back as a new tensor off
    the CPU: an ``nn.Parameter`` must therefore be made *after* its data is put.
    """
    if value is None or _device.type == "cpu":
        return value
    moved: Any = value.to(_device)  # type: ignore[attr-defined]
    return moved


def put_all(*values: Any) -> tuple[Any, ...]:
    """:func:`put` of each value, as a tuple to unpack."""
    return tuple(put(value) for value in values)


def tensor(data: Any, **options: Any) -> torch.Tensor:
    """``torch.tensor(data, **options)`` on the session's device."""
    return put(torch.tensor(data, **options))


def kwargs() -> dict[str, Any]:
    """``{"device": ...}`` to pass to a factory or a contract function that takes a device;
    empty on the CPU, so that a CPU run calls them exactly as before."""
    return {} if _device.type == "cpu" else {"device": _device}


def to_cpu(value: torch.Tensor) -> torch.Tensor:
    """A tensor's values on the CPU, for an oracle that must compute there."""
    return value.cpu()


def unavailable_reason(spec: str) -> str | None:
    """Why the suites cannot run on ``spec`` on this machine, or ``None`` when they can.

    Asking ``torch.cuda`` whether a device exists does not create a CUDA context.
    """
    device = torch.device(spec)
    if device.type == "cpu":
        return None
    if device.type != "cuda":
        return f"{OPTION}={spec}: only cpu and cuda devices are supported"
    if not torch.cuda.is_available():
        return (
            f"{OPTION}={spec}: torch.cuda.is_available() is False on this machine; "
            "run without it or on a machine with a GPU"
        )
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        return (
            f"{OPTION}={spec}: this machine has {count} CUDA device{'s' if count != 1 else ''} "
            f"(cuda:0 to cuda:{count - 1}); choose one of them"
        )
    return None
