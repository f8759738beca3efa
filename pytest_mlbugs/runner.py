"""Verdicts: run a component's property suite against an implementation.

Isolation model (docs/isolation.md has the whole story)
-------------------------------------------------------
The pytest process imports torch, Hypothesis and the suites once. Each variant is then judged
in a process forked from it (copy-on-write, so nothing is imported again): the child compiles
the variant in memory, runs the properties until one fails and sends a small JSON verdict
through a pipe. A one-shot child then leaves with ``os._exit``, so whatever the variant did to
global state (grad mode, default dtype, RNG, threads) dies with it; a child that hangs past the
time limit is killed (``timeout``), one that dies or exits without a verdict is ``error``
(crashed).

Before the variant runs, the child works in a private scratch folder (its working directory
and ``TMPDIR``, removed after the verdict), under an address-space limit
(:func:`set_child_memory_limit`), and, where the kernel has Landlock, unable to create or
change files anywhere but that folder and Hypothesis' private storage. A variant that runs out
of memory or is refused a write gets an ``error`` verdict, never a detection.

By default (``--mlbugs-isolation=worker``) a forked worker judges variant after variant and
retires at the first change of its state (:mod:`pytest_mlbugs.workers`); ``fork`` forks a fresh
child per verdict. Where ``fork`` does not exist, or with ``--mlbugs-isolation=none``, the same
code runs in-process under a timer, a guard that restores torch's global state, and the memory
cap (lifted afterwards); the scratch folder and the write confinement do not apply there.

Only a property that really failed on the variant makes it ``detected``. A variant that
cannot be imported, misses a contract name, raises ``SystemExit``/``KeyboardInterrupt``, or
trips Hypothesis itself (an unsatisfiable strategy is a harness bug) is an ``error``.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import faulthandler
import getpass
import hashlib
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from hypothesis import HealthCheck, Phase, Verbosity, example, given, settings
from hypothesis import configuration as hypothesis_configuration
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import HypothesisException

from pytest_mlbugs.loader import load_source
from pytest_mlbugs.registry import Component
from pytest_mlbugs.suite import Property

DETECTED = "detected"
SURVIVED = "survived"
TIMEOUT = "timeout"
ERROR = "error"
PASSED = "passed"
FAILED = "failed"
VARIANT_STATUSES = (DETECTED, SURVIVED, TIMEOUT, ERROR)

#: examples in ``--mlbugs-impl`` runs, per example of a verdict
THOROUGH_FACTOR = 5


class HarnessError(Exception):
    """The harness, not the implementation, went wrong: never counted as a detection."""


class VariantTimeout(BaseException):
    """Raised in-process when a variant outlives its time limit (not an ``Exception``)."""


@dataclasses.dataclass
class PropertyFailure:
    property: str
    message: str
    case: str


@dataclasses.dataclass
class BugVerdict:
    """How the suite sees one bug of a variant of several, judged on the reference with that
    bug alone: whether the suite tells it apart from the others."""

    #: the verdict on the bug alone: detected, survived, timeout or error
    alone: str
    #: the property that caught the bug alone
    caught_by: str | None = None
    #: whether the case that failed on the whole variant fails on this bug alone too: the
    #: variant's failure points to this bug
    pointed_to: bool = False


@dataclasses.dataclass
class Verdict:
    status: str
    seconds: float
    #: the first failing property (variants) or every failing one (references)
    failures: list[PropertyFailure] = dataclasses.field(default_factory=list)
    detail: str = ""
    #: a variant of several bugs: each bug judged alone, in the variant's order of bugs
    bugs: list[BugVerdict] = dataclasses.field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        failures = [PropertyFailure(**f) for f in data.get("failures", [])]
        bugs = [BugVerdict(**b) for b in data.get("bugs", [])]
        return cls(data["status"], data["seconds"], failures, data.get("detail", ""), bugs)


def derive_seed(*parts: object) -> int:
    """A 64-bit integer from the parts, identical on every machine and process."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


# ---------------------------------------------------------------------------------------------
# torch's global state


@dataclasses.dataclass
class _TorchState:
    grad_enabled: bool
    default_dtype: torch.dtype
    default_device: torch.device
    num_threads: int
    deterministic: bool
    deterministic_warn_only: bool
    anomaly: bool
    matmul_precision: str


def _torch_state() -> _TorchState:
    return _TorchState(
        grad_enabled=torch.is_grad_enabled(),
        default_dtype=torch.get_default_dtype(),
        default_device=torch.get_default_device(),
        num_threads=torch.get_num_threads(),
        deterministic=torch.are_deterministic_algorithms_enabled(),
        deterministic_warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
        anomaly=torch.is_anomaly_enabled(),
        matmul_precision=torch.get_float32_matmul_precision(),
    )


def _restore_torch_state(state: _TorchState) -> None:
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
    state = _torch_state()
    with torch.random.fork_rng(devices=[]):
        try:
            yield
        finally:
            _restore_torch_state(state)


# ---------------------------------------------------------------------------------------------
# one property


def hypothesis_settings(prop: Property, *, thorough: bool) -> settings:
    if thorough:
        return settings(
            max_examples=prop.max_examples * THOROUGH_FACTOR,
            phases=(Phase.explicit, Phase.generate, Phase.shrink),
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
    return settings(
        max_examples=prop.max_examples,
        phases=(Phase.explicit, Phase.generate),
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        report_multiple_bugs=False,
        print_blob=False,
    )


def hypothesis_test(
    prop: Property,
    impl: Any,
    *,
    seed: int,
    thorough: bool,
    on_failure: Callable[[Any, BaseException], None] | None = None,
) -> Callable[[], None]:
    """A zero-argument Hypothesis test of ``prop`` against ``impl``."""

    def test_property(case: Any) -> None:
        try:
            with torch_state_guard():
                prop.run_once(impl, case)
        except Exception as exc:
            if on_failure is not None:
                on_failure(case, exc)
            raise

    test_property.__name__ = test_property.__qualname__ = f"{prop.component}_{prop.name}"
    if prop.cases is None:
        return lambda: test_property(None)  # no Hypothesis involved: nothing to store
    test: Any = given(case=prop.cases)(test_property)
    for case in reversed(prop.explicit):
        test = example(case=case)(test)
    test = hypothesis_settings(prop, thorough=thorough)(test)
    seeded: Callable[[], None] = hypothesis_seed(seed)(test)

    def run() -> None:
        with private_hypothesis_storage():
            seeded()

    return run


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


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    head = text[0] if text else ""
    return f"{type(exc).__name__}: {head}" if head else type(exc).__name__


class Counterexample(NamedTuple):
    """A property that failed, how, and the case it failed on (to replay it elsewhere)."""

    prop: Property
    failure: PropertyFailure
    case: Any


def check_property(prop: Property, impl: Any, *, seed: int) -> PropertyFailure | None:
    """Run ``prop`` the verdict way; the first real failure, or ``None`` when it holds."""
    found = find_counterexample(prop, impl, seed=seed)
    return None if found is None else found.failure


def find_counterexample(prop: Property, impl: Any, *, seed: int) -> Counterexample | None:
    """:func:`check_property`, with the case that failed."""
    found: list[Counterexample] = []
    refusals: list[str] = []

    def record(case: Any, exc: BaseException) -> None:
        if not found:
            found.append(Counterexample(prop, PropertyFailure(prop.name, first_line(exc), repr(case)), case))
            refusal = limit_refusal(exc)
            if refusal is not None:
                refusals.append(refusal)

    test = hypothesis_test(prop, impl, seed=seed, thorough=False, on_failure=record)
    try:
        test()
    except Exception as exc:
        if refusals:
            raise HarnessError(f"{refusals[0]} in {prop.qualified_name}; not a detection") from exc
        if found:
            return found[0]
        if isinstance(exc, HypothesisException):
            raise HarnessError(f"Hypothesis could not run {prop.qualified_name}: {first_line(exc)}") from exc
        raise HarnessError(f"{prop.qualified_name} broke the harness: {first_line(exc)}") from exc
    return found[0] if found else None


def replays(counterexample: Counterexample, impl: Any) -> bool:
    """Whether ``impl`` fails the counterexample's property on the same case (no Hypothesis:
    a case is plain data, the property builds its tensors from it)."""
    try:
        with torch_state_guard():
            counterexample.prop.run_once(impl, counterexample.case)
    except HypothesisException:
        return False  # a property that needs Hypothesis' context (assume, note) cannot replay
    except Exception as exc:
        refusal = limit_refusal(exc)
        if refusal is not None:
            raise HarnessError(f"{refusal} in {counterexample.prop.qualified_name}; not a detection") from exc
        return True
    return False


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


# ---------------------------------------------------------------------------------------------
# whole suites


def order_properties(properties: Sequence[Property], layers: Sequence[str]) -> list[Property]:
    """Properties of the bugs' own debugging layers first, then the rest, in suite order."""
    wanted = set(layers)
    return [p for p in properties if p.layer.value in wanted] + [
        p for p in properties if p.layer.value not in wanted
    ]


def judge_variant(
    component: Component,
    source: str,
    *,
    module_name: str,
    filename: str,
    seed: int,
    layers: Sequence[str] = (),
    solo_sources: Sequence[str] = (),
    time_limit: float | None = None,
) -> Verdict:
    """Run the suite against a variant until a property fails (in the current process).

    A variant of several bugs comes with each bug written alone (``solo_sources``, one per
    entry of ``layers``): each is judged too, so that the verdict says which bugs the suite
    catches on their own and which of them the variant's failure points to. The variant's
    own status does not depend on them: detected when any property fails on the whole variant.
    With ``time_limit`` (the seconds the whole job may take) the bugs alone share what the
    variant left of it, so that a bug that hangs alone is a ``timeout`` of its own, never the
    variant's.
    """
    started = time.perf_counter()

    def done(status: str, failures: Sequence[PropertyFailure] = (), detail: str = "") -> Verdict:
        return Verdict(status, time.perf_counter() - started, list(failures), detail)

    impl, problem = _load_variant(component, source, module_name=module_name, filename=filename)
    if impl is None:
        return done(ERROR, detail=problem)
    try:
        found = _first_failure(impl, order_properties(component.suite.properties, layers), seed=seed)
    except HarnessError as exc:
        return done(ERROR, detail=str(exc))
    verdict = done(SURVIVED) if found is None else done(DETECTED, [found.failure])
    if len(solo_sources) > 1:
        for number, (solo, layer) in enumerate(zip(solo_sources, layers, strict=True), start=1):
            budget = None
            if time_limit is not None:
                left = time_limit - (time.perf_counter() - started)
                budget = SOLO_SHARE * left / (len(solo_sources) - number + 1)
            judged = _judge_bug_alone(
                component,
                solo,
                module_name=f"{module_name}_bug{number}",
                filename=f"{filename}, bug {number} alone",
                seed=seed,
                layer=layer,
                counterexample=found,
                budget=budget,
            )
            verdict.bugs.append(judged)
        verdict.seconds = time.perf_counter() - started
    return verdict


#: the part of a job's time left that the bugs alone may use, so that the variant's own verdict
#: still reaches the parent before the job's limit
SOLO_SHARE = 0.8


class _BugAloneTimeout(BaseException):
    """A bug judged alone outran its share of the job's time (not an ``Exception``)."""


@contextlib.contextmanager
def _alarm(seconds: float | None, raising: type[BaseException]) -> Iterator[None]:
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


def _load_variant(component: Component, source: str, *, module_name: str, filename: str) -> tuple[Any, str]:
    """The variant as a module, or ``None`` and why it cannot be judged (an ``error``)."""
    try:
        impl = load_source(source, name=module_name, filename=filename)
    except Exception as exc:
        return None, f"the variant raised at import: {first_line(exc)}"
    missing = component.suite.missing_names(impl)
    if missing:
        return None, f"the variant no longer defines {', '.join(missing)}"
    return impl, ""


def _first_failure(impl: Any, properties: Sequence[Property], *, seed: int) -> Counterexample | None:
    """The first of ``properties`` that fails on ``impl``; raises :class:`HarnessError`."""
    for prop in properties:
        found = find_counterexample(prop, impl, seed=derive_seed(seed, prop.qualified_name))
        if found is not None:
            return found
    return None


def _judge_bug_alone(
    component: Component,
    source: str,
    *,
    module_name: str,
    filename: str,
    seed: int,
    layer: str,
    counterexample: Counterexample | None,
    budget: float | None,
) -> BugVerdict:
    """One bug of a variant of several, alone. The case that failed on the whole variant is
    replayed first: when it fails here too, the variant's failure points to this bug and the
    bug is caught alone, in one call of the property; otherwise the suite runs as for any
    variant, the bug's own debugging layer first."""
    try:
        with _alarm(budget, _BugAloneTimeout):
            impl, _problem = _load_variant(component, source, module_name=module_name, filename=filename)
            if impl is None:
                return BugVerdict(ERROR)
            try:
                if counterexample is not None and replays(counterexample, impl):
                    return BugVerdict(DETECTED, counterexample.prop.name, pointed_to=True)
                properties = order_properties(component.suite.properties, [layer])
                found = _first_failure(impl, properties, seed=seed)
            except HarnessError:
                return BugVerdict(ERROR)
    except _BugAloneTimeout:
        return BugVerdict(TIMEOUT)
    return BugVerdict(SURVIVED) if found is None else BugVerdict(DETECTED, found.prop.name)


def judge_reference(component: Component, *, module_name: str, seed: int) -> Verdict:
    """Run every property against the reference: it must pass them all."""
    started = time.perf_counter()
    try:
        impl = load_source(component.reference_source, name=module_name, filename=component.reference_path)
    except Exception as exc:
        return Verdict(
            ERROR, time.perf_counter() - started, [], f"the reference raised at import: {first_line(exc)}"
        )
    failures: list[PropertyFailure] = []
    for prop in component.suite.properties:
        try:
            failure = check_property(prop, impl, seed=derive_seed(seed, prop.qualified_name))
        except HarnessError as exc:
            return Verdict(ERROR, time.perf_counter() - started, failures, str(exc))
        if failure is not None:
            failures.append(failure)
    return Verdict(FAILED if failures else PASSED, time.perf_counter() - started, failures)


# ---------------------------------------------------------------------------------------------
# isolation


def fork_available() -> bool:
    return hasattr(os, "fork") and sys.platform != "win32"


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
def _memory_cap_in_process() -> Iterator[None]:
    """The same cap on this process while the body runs, then the soft limit it had: a variant
    judged in-process that allocates without bound gets a MemoryError, not the machine's memory."""
    try:
        import resource

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


def _confine_writes(writable: Sequence[Path]) -> bool:
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


def _new_scratch() -> Path:
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


def _enter_scratch(scratch: Path) -> None:
    """In the child: work in ``scratch`` (relative writes, temporary files), within limits."""
    os.chdir(scratch)
    os.environ["TMPDIR"] = str(scratch)
    tempfile.tempdir = str(scratch)
    _limit_memory()
    _limits.sandboxed = _confine_writes([scratch, HYPOTHESIS_STORAGE])


def run_isolated(job: Callable[[], Verdict], *, timeout: float, isolation: str) -> Verdict:
    """Run ``job`` in a forked child (``isolation="fork"``) or in this process (``"none"``)."""
    return PendingVerdict(job, timeout=timeout, isolation=isolation).result()


#: ``--mlbugs-isolation`` values: reused forked workers, a fresh fork per verdict, in-process
ISOLATIONS = ("worker", "fork", "none")


class PendingVerdict:
    """A verdict that may already be computing in a forked child.

    :meth:`start` hands the job to a forked process at once, so that the session can judge the
    next variant while the current one finishes (two cores, two children); :meth:`result` waits
    for it. ``isolation="worker"`` runs it in a reused worker (:mod:`pytest_mlbugs.workers`; the
    job is registered now, so build every pending verdict of a session before the first starts),
    ``"fork"`` in a child of its own; ``"none"``, or no fork on this platform, in-process when the
    result is asked for. The time limit counts from the start.
    """

    def __init__(self, job: Callable[[], Verdict], *, timeout: float, isolation: str) -> None:
        if isolation not in ISOLATIONS:
            raise ValueError(f"isolation must be one of {ISOLATIONS}, got {isolation!r}")
        self.job = job
        self.timeout = timeout
        self.isolation = isolation if fork_available() else "none"
        self._child: _Child | None = None
        self._lease: Any = None
        self._verdict: Verdict | None = None
        self._key = 0
        if self.isolation == "worker":
            from pytest_mlbugs import workers

            self._key = workers.register_job(job)

    @property
    def forked(self) -> bool:
        return self.isolation != "none"

    def start(self) -> None:
        if self._verdict is not None or self._child is not None or self._lease is not None:
            return
        if self.isolation == "worker":
            from pytest_mlbugs import workers

            self._lease = workers.Lease(self._key)
        elif self.isolation == "fork":
            self._child = _Child.fork(self.job)

    def result(self) -> Verdict:
        if self._verdict is None:
            if self.forked:
                self.start()
                waiting = self._lease if self._lease is not None else self._child
                assert waiting is not None
                self._verdict = waiting.wait(self.timeout)
            else:
                self._verdict = _run_in_process(self.job, timeout=self.timeout)
            self._forget()
        return self._verdict

    def _forget(self) -> None:
        if self._key:
            from pytest_mlbugs import workers

            workers.forget_job(self._key)

    def cancel(self) -> None:
        """Kill a child whose verdict nobody will ask for (the session stopped early)."""
        if self._verdict is not None:
            return
        if self._lease is not None:
            self._lease.cancel()
        elif self._child is not None:
            self._child.kill()
            os.close(self._child.read_fd)
            os.waitpid(self._child.pid, 0)
            self._child.remove_scratch()
        else:
            return
        self._verdict = Verdict(ERROR, 0.0, [], "cancelled: the session ended first")
        self._forget()


def _run_in_process(job: Callable[[], Verdict], *, timeout: float) -> Verdict:
    started = time.perf_counter()
    try:
        with _alarm(timeout, VariantTimeout), torch_state_guard(), _memory_cap_in_process():
            # as in a forked child: tiny tensors, and an OpenMP pool on a busy machine costs
            # seconds per verdict (the guard gives the thread count back)
            torch.set_num_threads(1)
            return job()
    except VariantTimeout:
        return Verdict(TIMEOUT, time.perf_counter() - started, [], f"no verdict within {timeout:g} s")
    except BaseException as exc:  # SystemExit, KeyboardInterrupt from a variant
        return Verdict(ERROR, time.perf_counter() - started, [], f"the variant raised {first_line(exc)}")


def fork_quietly() -> int:
    """``os.fork()``. Python 3.12+ warns about forking a threaded process (xdist's worker is
    one); our children touch no lock another thread could hold: they compute, write, _exit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def become_verdict_child(scratch: Path) -> None:
    """In a freshly forked child or worker: silent, one torch thread, in ``scratch``, limited."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)
    torch.set_num_threads(1)  # the parent's OpenMP pool does not survive fork
    # pytest's faulthandler writes to its own copy of the terminal: a crash is a verdict here
    faulthandler.disable()
    _enter_scratch(scratch)


def _child(job: Callable[[], Verdict], write_fd: int, scratch: Path) -> None:
    """The body of a forked child; never returns (``os._exit``: threads the variant started,
    daemon or not, cannot keep it alive)."""
    status = 70
    try:
        become_verdict_child(scratch)
        try:
            verdict = job()
        except BaseException as exc:
            verdict = Verdict(ERROR, 0.0, [], f"the variant raised {first_line(exc)}")
        payload = json.dumps(verdict.to_json()).encode()
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(payload)
        status = 0
    except BaseException:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
    finally:
        os._exit(status)


def crash_verdict(wait_status: int, elapsed: float) -> Verdict:
    """The verdict on a child that ended without giving one."""
    if os.WIFSIGNALED(wait_status):
        signum = os.WTERMSIG(wait_status)
        name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else str(signum)
        return Verdict(ERROR, elapsed, [], f"crashed: the child died of {name}")
    return Verdict(
        ERROR,
        elapsed,
        [],
        f"crashed: the child exited with status {os.WEXITSTATUS(wait_status)} before a verdict",
    )


class _Child:
    def __init__(self, pid: int, read_fd: int, started: float, fork_seconds: float, scratch: Path) -> None:
        self.pid = pid
        self.read_fd = read_fd
        self.started = started
        self.fork_seconds = fork_seconds
        self.scratch = scratch

    @classmethod
    def fork(cls, job: Callable[[], Verdict]) -> _Child:
        scratch = _new_scratch()
        read_fd, write_fd = os.pipe()
        started = time.perf_counter()
        pid = fork_quietly()
        if pid == 0:
            os.close(read_fd)
            _child(job, write_fd, scratch)
        os.close(write_fd)
        return cls(pid, read_fd, started, time.perf_counter() - started, scratch)

    def _read_until_eof(self, deadline: float) -> tuple[list[bytes], bool]:
        chunks: list[bytes] = []
        while True:
            # Past the deadline, still take what the child already wrote (a late reader).
            remaining = max(0.0, deadline - time.perf_counter())
            ready, _, _ = select.select([self.read_fd], [], [], remaining)
            if not ready:
                return chunks, False
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                return chunks, True
            chunks.append(chunk)

    def wait(self, timeout: float) -> Verdict:
        try:
            chunks, finished = self._read_until_eof(self.started + timeout)
        finally:
            os.close(self.read_fd)
            if not finished:
                self.kill()
            _, wait_status = os.waitpid(self.pid, 0)
            self.remove_scratch()
        elapsed = time.perf_counter() - self.started
        if not finished:
            return Verdict(TIMEOUT, elapsed, [], f"no verdict within {timeout:g} s; the child was killed")
        if chunks:
            verdict = Verdict.from_json(json.loads(b"".join(chunks)))
            # The child's own time plus the fork: not the time this verdict waited to be read.
            verdict.seconds += self.fork_seconds
            return verdict
        return crash_verdict(wait_status, elapsed)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def remove_scratch(self) -> None:
        shutil.rmtree(self.scratch, ignore_errors=True)
