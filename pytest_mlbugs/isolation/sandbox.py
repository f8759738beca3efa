"""The sandbox a job runs in: a scratch folder, a memory cap, confined writes, a timer.

- **Scratch folders.** A forked child or worker works in a private folder under
  :data:`SCRATCH_ROOT` (its working directory and ``TMPDIR``), removed after its verdicts; the
  folders of sessions that were killed (SIGKILL) are swept by the next session.
- **Memory.** An address-space limit (``RLIMIT_AS``) of what the process maps now plus an
  allowance (``--mlbugs-memory-limit``), for good in a child, lifted again in-process.
- **Writes.** Where the kernel has Landlock (Linux 5.13+), a child may create or change files
  only in its scratch folder and in Hypothesis' private storage.
- **Time.** :func:`alarm`: a ``SIGALRM`` limit that nests under an outer one.
- **Hypothesis' storage.** Hypothesis keeps caches even with ``database=None``; while our
  properties run they go to a private folder, never the user's tree.

A variant refused by these limits (out of memory, a write outside its folder) gets an
``error`` verdict (:func:`limit_refusal`), never a detection.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import getpass
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from hypothesis import configuration as hypothesis_configuration

from pytest_mlbugs.verdict import first_line

#: where Hypothesis may keep its caches while it runs our properties: never the user's tree
HYPOTHESIS_STORAGE = Path(tempfile.gettempdir()) / f"pytest-mlbugs-{getpass.getuser()}" / "hypothesis"


@contextlib.contextmanager
def private_hypothesis_storage() -> Iterator[None]:
    """Point Hypothesis' storage (its constants cache, even with ``database=None``) away from
    the working directory while our properties run, then give the user's setting back."""
    key = "__hypothesis_home_directory"  # set_hypothesis_home_dir has no getter
    previous = vars(hypothesis_configuration).get(key)
    hypothesis_configuration.set_hypothesis_home_dir(HYPOTHESIS_STORAGE)
    try:
        yield
    finally:
        vars(hypothesis_configuration)[key] = previous


#: the default extra address space a forked child may map beyond what it inherits (MiB)
DEFAULT_MEMORY_LIMIT_MIB = 4096

#: the parent of the scratch folders that forked children work in
SCRATCH_ROOT = HYPOTHESIS_STORAGE.parent / "scratch"


@dataclasses.dataclass
class _ChildLimits:
    #: extra address space for a child, in MiB; 0 for no limit
    memory_mib: int = DEFAULT_MEMORY_LIMIT_MIB
    #: set in a child once Landlock confines its writes
    sandboxed: bool = False
    #: whether this process has removed the scratch folders that killed sessions left behind
    swept: bool = False


_limits = _ChildLimits()


def set_child_memory_limit(mib: int) -> None:
    """Let each forked child map at most ``mib`` MiB beyond what it inherits (0: no limit)."""
    if mib < 0:
        raise ValueError(f"memory limit must be at least 0 MiB, got {mib}")
    _limits.memory_mib = mib


def _address_space_limit(ceiling: int) -> int:
    """What this process maps now plus the allowance, in bytes, at most ``ceiling`` (-1: none).

    RLIMIT_AS counts mappings, and torch alone maps hundreds of MiB, so a fixed cap would mean
    different things on different machines."""
    mapped = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            mapped = int(line.split()[1]) * 1024
    limit = mapped + _limits.memory_mib * 1024 * 1024
    return limit if ceiling < 0 else min(limit, ceiling)


def _limit_memory() -> None:
    """Cap the child's address space at what it inherited plus its allowance, for good."""
    import resource  # Unix only, like fork

    with contextlib.suppress(OSError, ValueError):  # a crash leaves no core file behind
        resource.setrlimit(resource.RLIMIT_CORE, (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
    if _limits.memory_mib <= 0:
        return
    with contextlib.suppress(OSError, ValueError):
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        ceiling = -1 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_AS, (_address_space_limit(ceiling), hard))


@contextlib.contextmanager
def memory_cap_in_process() -> Iterator[None]:
    """The same cap on this process while the body runs, then the soft limit it had: a variant
    judged in-process that allocates without bound gets a MemoryError, not the machine's memory."""
    try:
        import resource  # Unix only: elsewhere there is no cap to set

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        yield
        return
    capped = False
    if _limits.memory_mib > 0:
        with contextlib.suppress(OSError, ValueError):
            ceiling = -1 if soft == resource.RLIM_INFINITY else soft
            resource.setrlimit(resource.RLIMIT_AS, (_address_space_limit(ceiling), hard))
            capped = True
    try:
        yield
    finally:
        if capped:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


# Landlock (Linux 5.13+): an unprivileged process may give up the right to write files outside
# chosen folders, for itself and its descendants, for good. Numbers from <linux/landlock.h>.
_LANDLOCK_SYSCALLS = {"create_ruleset": 444, "add_rule": 445, "restrict_self": 446}
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38
#: every right that creates, changes or removes a file (ABI 1: bits 1 and 4-12; 2: REFER; 3: TRUNCATE)
_LANDLOCK_WRITE_RIGHTS = {1: 0b1_1111_1111_0010, 2: 0b11_1111_1111_0010, 3: 0b111_1111_1111_0010}


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _landlock_abi(libc: Any) -> int:
    if not sys.platform.startswith("linux"):
        return 0
    version = libc.syscall(_LANDLOCK_SYSCALLS["create_ruleset"], None, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    return max(0, int(version))


def write_sandbox_available() -> bool:
    """Whether forked children can be kept from writing outside their scratch folder."""
    try:
        return _landlock_abi(ctypes.CDLL(None, use_errno=True)) > 0
    except OSError:
        return False


def confine_writes(writable: Sequence[Path]) -> bool:
    """Allow file writes only beneath ``writable`` from now on; whether that took effect."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    abi = _landlock_abi(libc)
    if abi <= 0:
        return False
    rights = _LANDLOCK_WRITE_RIGHTS[min(abi, 3)]
    handled = ctypes.c_uint64(rights)
    ruleset = libc.syscall(
        _LANDLOCK_SYSCALLS["create_ruleset"], ctypes.byref(handled), ctypes.sizeof(handled), 0
    )
    if ruleset < 0:
        return False
    try:
        for folder in writable:
            try:
                descriptor = os.open(folder, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                return False
            try:
                rule = _PathBeneath(rights, descriptor)
                if libc.syscall(
                    _LANDLOCK_SYSCALLS["add_rule"],
                    ruleset,
                    _LANDLOCK_RULE_PATH_BENEATH,
                    ctypes.byref(rule),
                    0,
                ):
                    return False
            finally:
                os.close(descriptor)
        if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0):
            return False
        return libc.syscall(_LANDLOCK_SYSCALLS["restrict_self"], ruleset, 0) == 0
    finally:
        os.close(ruleset)


def new_scratch() -> Path:
    SCRATCH_ROOT.mkdir(parents=True, exist_ok=True)
    HYPOTHESIS_STORAGE.mkdir(parents=True, exist_ok=True)
    if not _limits.swept:
        _limits.swept = True
        _remove_orphaned_scratch()
    return Path(tempfile.mkdtemp(prefix=f"variant-{os.getpid()}-", dir=SCRATCH_ROOT))


def _remove_orphaned_scratch() -> None:
    """Remove the scratch folders of sessions that were killed before they could (SIGKILL)."""
    for folder in SCRATCH_ROOT.glob("variant-*-*"):
        owner = folder.name.split("-")[1]
        if owner.isdigit() and not _process_exists(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def enter_scratch(scratch: Path) -> None:
    """In the child: work in ``scratch`` (relative writes, temporary files), within limits."""
    os.chdir(scratch)
    os.environ["TMPDIR"] = str(scratch)
    tempfile.tempdir = str(scratch)
    _limit_memory()
    _limits.sandboxed = confine_writes([scratch, HYPOTHESIS_STORAGE])


@contextlib.contextmanager
def alarm(seconds: float | None, raising: type[BaseException]) -> Iterator[None]:
    """Raise ``raising`` in the body after ``seconds`` (a ``SIGALRM`` timer; no limit with
    ``None`` or off the main thread), then give back the timer that was running before (the
    in-process mode's around a bug alone, pytest-timeout's around a job), less the time spent.
    An outer limit is never outlasted: when it comes first, the body is ended as after
    ``seconds`` and the outer timer, given back with nothing left, fires at once."""
    usable = threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")
    if seconds is None or not usable:
        yield
        return
    outer, _interval = signal.getitimer(signal.ITIMER_REAL)
    entered = time.perf_counter()

    def expire(signum: int, frame: Any) -> None:
        raise raising()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, max(min(seconds, outer) if outer else seconds, 1e-3))
    try:
        yield
    finally:
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
        finally:  # an alarm just before the line above must not leave our handler in place
            signal.signal(signal.SIGALRM, previous)
            if outer:
                signal.setitimer(signal.ITIMER_REAL, max(outer - (time.perf_counter() - entered), 1e-3))


def limit_refusal(exc: BaseException) -> str | None:
    """Why ``exc`` is the isolation's limits refusing the variant, or ``None`` when it is not."""
    if isinstance(exc, MemoryError) or (
        isinstance(exc, RuntimeError)
        and any(text in str(exc) for text in ("can't allocate memory", "can't start new thread"))
    ):
        return f"the variant ran out of memory ({first_line(exc)})"
    if _limits.sandboxed and isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM):
        return f"the variant was refused a write outside its scratch folder ({first_line(exc)})"
    return None
