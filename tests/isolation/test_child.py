"""A one-shot child: an interrupted wait still kills, reaps and cleans up after it."""

from __future__ import annotations

import os
import signal
import time

import pytest

from pytest_mlbugs.isolation.child import Child
from pytest_mlbugs.verdict import Status, Verdict


def _sleeps() -> Verdict:
    time.sleep(60)
    return Verdict(Status.SURVIVED, 0.0)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM")
def test_ctrl_c_while_waiting_kills_reaps_and_removes_the_scratch_folder():
    child = Child.fork(_sleeps)

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    try:
        with pytest.raises(KeyboardInterrupt):  # not an UnboundLocalError from inside wait()
            child.wait(timeout=30)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    with pytest.raises(ChildProcessError):  # reaped already: nothing left to wait for
        os.waitpid(child.pid, os.WNOHANG)
    assert not child.scratch.exists()


def test_a_verdict_arrives_from_the_child():
    child = Child.fork(lambda: Verdict(Status.DETECTED, 0.0, [], "from the child"))
    verdict = child.wait(timeout=60)
    assert (verdict.status, verdict.detail) == (Status.DETECTED, "from the child")
    assert not child.scratch.exists()
