"""Progress on long work: how many verdicts are in, how fast they come, how long is left.

pytest's own progress (``[ 40%]``) counts items; a session of thousands of variants or a target
run of hundreds of mutants also wants a rate and an estimate. :class:`Progress` writes one
line at every tenth of the way, in pytest's terminal style, and nothing under ``-q`` or in an
xdist worker (the controller, which sees every report, writes them).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

#: below this many verdicts pytest's own percentage says enough
MIN_TOTAL = 50
STEPS = 10


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


class Progress:
    def __init__(self, config: pytest.Config, total: int, noun: str) -> None:
        self.total = total
        self.noun = noun
        self.done = 0
        self.started = time.perf_counter()
        self._next_step = 1
        reporter: Any = config.pluginmanager.get_plugin("terminalreporter")
        quiet = config.get_verbosity() < 0 or hasattr(config, "workerinput")
        self.reporter = None if quiet or total < MIN_TOTAL else reporter

    def line(self) -> str:
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        percent = 100 * self.done // self.total
        return (
            f"mlbugs: [{percent:3d}%] {self.done} of {self.total} {self.noun} judged, "
            f"{rate:.1f}/s, about {_duration(left)} left"
        )

    def advance(self) -> None:
        """One more verdict; a line when it crosses the next tenth of the way."""
        self.done += 1
        if self.reporter is None or self.done >= self.total:
            return
        if self.done * STEPS >= self._next_step * self.total:
            self._next_step = self.done * STEPS // self.total + 1
            self.reporter.ensure_newline()
            self.reporter.write_line(self.line())
