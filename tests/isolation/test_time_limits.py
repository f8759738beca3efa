"""The SIGALRM limits: a job's in-process limit and a bug's share of it (a variant of several
bugs judges each bug alone) nest, and each gives back the timer that ran before it."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from pytest_mlbugs import judging
from pytest_mlbugs.isolation import run_isolated, sandbox
from pytest_mlbugs.verdict import Status, Verdict


class OuterExpired(Exception):
    pass


def _busy(seconds: float) -> None:
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


@pytest.fixture
def outer_timer():
    """An outer SIGALRM timer and handler, as the in-process mode sets around a job."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal timers need the main thread")

    def expire(signum, frame):
        raise OuterExpired()

    previous = signal.signal(signal.SIGALRM, expire)
    yield expire
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def test_a_bugs_share_of_time_ends_it_and_gives_the_outer_timer_back(outer_timer):
    signal.setitimer(signal.ITIMER_REAL, 5.0)
    with pytest.raises(judging.BugAloneTimeout), sandbox.alarm(0.05, judging.BugAloneTimeout):
        _busy(2.0)
    left, _ = signal.getitimer(signal.ITIMER_REAL)
    assert signal.getsignal(signal.SIGALRM) is outer_timer
    assert 4.0 < left < 5.0


def test_a_bugs_share_never_outlasts_the_outer_limit(outer_timer):
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    started = time.perf_counter()
    with pytest.raises(OuterExpired):
        try:
            with sandbox.alarm(10.0, judging.BugAloneTimeout):
                _busy(5.0)
        except judging.BugAloneTimeout:
            _busy(5.0)  # the outer timer, given back with nothing left, fires here
    assert time.perf_counter() - started < 1.0


def test_the_in_process_mode_gives_an_outer_timer_back(outer_timer):
    # pytest-timeout's signal method, say: its limit must survive a verdict judged in-process
    signal.setitimer(signal.ITIMER_REAL, 5.0)
    verdict = run_isolated(lambda: Verdict(Status.PASSED, 0.0), timeout=60, isolation="none")
    assert verdict.status == Status.PASSED
    left, _ = signal.getitimer(signal.ITIMER_REAL)
    assert signal.getsignal(signal.SIGALRM) is outer_timer
    assert 4.0 < left <= 5.0


def test_the_in_process_limit_ends_a_job_that_hangs(outer_timer):
    verdict = run_isolated(lambda: _busy(10.0), timeout=0.1, isolation="none")
    assert verdict.status == "timeout"
    assert signal.getsignal(signal.SIGALRM) is outer_timer
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0
