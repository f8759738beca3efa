"""torch's global switches and CPU random generator: read, restored, guarded.

A variant can change process-wide state (grad mode, the default dtype, the thread count, the
RNG) and so change the verdicts of the variants judged after it in the same process. The guard
puts everything back however the body ends; the reused workers' fingerprint reads the same
state to notice a change the guard cannot undo.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import torch


@dataclasses.dataclass
class TorchState:
    grad_enabled: bool
    default_dtype: torch.dtype
    default_device: torch.device
    num_threads: int
    deterministic: bool
    deterministic_warn_only: bool
    anomaly: bool
    matmul_precision: str


def torch_state() -> TorchState:
    """torch's global switches as they are now."""
    return TorchState(
        grad_enabled=torch.is_grad_enabled(),
        default_dtype=torch.get_default_dtype(),
        default_device=torch.get_default_device(),
        num_threads=torch.get_num_threads(),
        deterministic=torch.are_deterministic_algorithms_enabled(),
        deterministic_warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
        anomaly=torch.is_anomaly_enabled(),
        matmul_precision=torch.get_float32_matmul_precision(),
    )


def restore_torch_state(state: TorchState) -> None:
    """Set every switch back to ``state``, touching only those that changed."""
    torch.set_grad_enabled(state.grad_enabled)
    torch.set_default_dtype(state.default_dtype)
    # Setting a default device, even "cpu", installs a torch-function mode that slows every
    # later call: only undo a change.
    if torch.get_default_device() != state.default_device:
        torch.set_default_device(state.default_device)
    if torch.get_num_threads() != state.num_threads:
        torch.set_num_threads(state.num_threads)
    # use_deterministic_algorithms imports torch._inductor (800 modules, seconds) on its first
    # call, even to set what is already set: also only undo a change.
    if (
        torch.are_deterministic_algorithms_enabled() != state.deterministic
        or torch.is_deterministic_algorithms_warn_only_enabled() != state.deterministic_warn_only
    ):
        torch.use_deterministic_algorithms(state.deterministic, warn_only=state.deterministic_warn_only)
    if torch.is_anomaly_enabled() != state.anomaly:
        torch.autograd.set_detect_anomaly(state.anomaly)
    if torch.get_float32_matmul_precision() != state.matmul_precision:
        torch.set_float32_matmul_precision(state.matmul_precision)


@contextlib.contextmanager
def torch_state_guard() -> Iterator[None]:
    """Restore torch's global switches (grad mode, default dtype and device, threads,
    deterministic algorithms, anomaly mode, matmul precision) and its CPU RNG (``manual_seed``)
    however the body leaves them."""
    state = torch_state()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            restore_torch_state(state)
