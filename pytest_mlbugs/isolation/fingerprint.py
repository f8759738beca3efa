"""The fingerprint of a reused worker's state: what a variant could change for the next one.

A worker compares its fingerprint after every job with the one it took before its first job;
at the first difference it retires (:mod:`.workers`). What it covers is listed in
:meth:`Fingerprint.take`; what it cannot see (in-place changes deep inside objects it does not
watch) is why ``--mlbugs-isolation=fork`` exists.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import random
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import torch

from pytest_mlbugs.isolation.torchstate import torch_state

#: a worker whose resident memory grew by more than this since its first job retires (MiB)
MAX_RSS_GROWTH_MIB = 256

#: modules whose top-level names a variant could rebind to change later verdicts
_WATCHED_MODULES = (
    "builtins",
    "math",
    "random",
    "torch",
    "torch.nn",
    "torch.nn.functional",
    "torch.nn.init",
    "torch.nn.utils",
    "torch.nn.utils.clip_grad",
    "torch.nn.modules.module",
    "torch.optim",
    "torch.optim.optimizer",
    "torch.autograd",
    "torch.linalg",
    "torch.random",
    "torch.functional",
)
_SIGNALS = tuple(s for s in signal.valid_signals() if s not in (signal.SIGKILL, signal.SIGSTOP))
_RLIMITS = ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_STACK")


def _watched_classes() -> tuple[type, ...]:
    nn = torch.nn
    classes: list[type] = [torch.Tensor, torch._C.TensorBase, nn.Module, nn.Parameter, torch.optim.Optimizer]
    for name in ("Linear", "LayerNorm", "Dropout", "Embedding", "MultiheadAttention", "Sequential"):
        classes.append(getattr(nn, name))
    for name in ("SGD", "Adam", "AdamW"):
        classes.append(getattr(torch.optim, name))
    return tuple(classes)


def _identities(namespace: Any) -> int:
    return hash(tuple(map(id, vars(namespace).values())))


def _proc_entries(folder: str) -> tuple[str, ...]:
    try:
        return tuple(sorted(os.listdir(folder)))
    except OSError:
        return ()


def _resident_mib() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _optional_count(name: str) -> int:
    """A count torch keeps privately (mode stacks); -1 where this torch has no such function."""
    function = getattr(torch._C, name, None)
    return int(function()) if callable(function) else -1


#: torch.nn's global module hooks (``register_module_forward_hook`` and kin)
_HOOK_TABLES = tuple(
    name
    for name, value in vars(torch.nn.modules.module).items()
    if name.startswith("_global_") and isinstance(value, dict)
)


def _torch_switches() -> tuple[Any, ...]:
    module_hooks = torch.nn.modules.module
    return (
        dataclasses.astuple(torch_state()),
        hash(bytes(torch.random.get_rng_state().tolist())),  # no numpy: torch does not need it
        torch.is_inference_mode_enabled(),
        torch.is_autocast_enabled("cpu"),
        _optional_count("_len_torch_function_stack"),
        _optional_count("_len_torch_dispatch_stack"),
        torch.backends.mkldnn.enabled,
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        tuple(len(getattr(module_hooks, name)) for name in _HOOK_TABLES),
    )


@dataclasses.dataclass
class Fingerprint:
    """The parts of a process' state a variant could change for the variants after it."""

    parts: dict[str, Any]
    resident_mib: float

    @classmethod
    def take(cls, scratch: Path) -> Fingerprint:
        import resource  # Unix only, like the fork that makes a worker

        umask = os.umask(0o022)
        os.umask(umask)
        parts: dict[str, Any] = {
            "the working directory": os.getcwd(),
            "the scratch folder's contents": _proc_entries(str(scratch)),
            "the environment": hash(tuple(sorted(os.environ.items()))),
            "sys.path": tuple(sys.path),
            "the import machinery": (tuple(map(id, sys.meta_path)), tuple(map(id, sys.path_hooks))),
            "the imported modules": frozenset(sys.modules),
            "the standard streams": (id(sys.stdin), id(sys.stdout), id(sys.stderr)),
            "sys hooks": (id(sys.displayhook), id(sys.excepthook), id(sys.unraisablehook)),
            "trace and profile functions": (
                sys.gettrace(),
                sys.getprofile(),
                threading.gettrace(),
                threading.getprofile(),
            ),
            "interpreter settings": (sys.getrecursionlimit(), sys.getswitchinterval()),
            "the garbage collector": (gc.isenabled(), gc.get_threshold()),
            "warning filters": tuple(warnings.filters),
            "signal handlers": tuple(id(signal.getsignal(s)) for s in _SIGNALS),
            "the signal mask": frozenset(signal.pthread_sigmask(signal.SIG_BLOCK, [])),
            "interval timers": tuple(
                signal.getitimer(t) for t in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF)
            ),
            "threads": (threading.active_count(), len(_proc_entries("/proc/self/task"))),
            "open file descriptors": _proc_entries("/proc/self/fd"),
            "resource limits": tuple(
                resource.getrlimit(getattr(resource, name)) for name in _RLIMITS if hasattr(resource, name)
            ),
            "the umask": umask,
            "Python's random state": hash(random.getstate()),
            "torch's global state": _torch_switches(),
            "torch's functions": tuple(
                _identities(sys.modules[name]) for name in _WATCHED_MODULES if name in sys.modules
            ),
            "torch's classes": tuple(_identities(cls) for cls in _watched_classes()),
        }
        return cls(parts, _resident_mib())

    def difference(self, later: Fingerprint) -> str | None:
        """What changed from ``self`` to ``later``; ``None`` when nothing did.

        torch imports some of its own submodules on first use (``torch._subclasses...``): a
        ``torch.*`` module that appeared is not a change (nothing is rebound by it that the other
        parts would not see), and this fingerprint takes it in.
        """
        for name, value in self.parts.items():
            if later.parts.get(name) != value:
                if name == "the imported modules":
                    added = later.parts[name] - value
                    removed = value - later.parts[name]
                    if not removed and all(module.startswith("torch.") for module in added):
                        self.parts[name] = later.parts[name]
                        continue
                    changed = f"added {sorted(added)[:3]}, removed {sorted(removed)[:3]}"
                    return f"the imported modules changed ({changed})"
                return f"{name} changed"
        if later.resident_mib - self.resident_mib > MAX_RSS_GROWTH_MIB:
            return f"its memory grew by {later.resident_mib - self.resident_mib:.0f} MiB"
        return None
