"""A progress line for long commands: a bar with counts and rate on a terminal, nothing
otherwise (so logs and pipes stay clean)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["ProgressBar"]

RATE_AFTER = 0.5
"""Seconds of a phase before its rate is shown: a rate over less time says nothing."""
REDRAW_EVERY = 0.1
"""Seconds between two redraws of the same phase (its last step always draws)."""


class ProgressBar:
    """Call it as ``bar(phase, done, total)``; :meth:`close` ends the line.

    The rate of a phase counts the items done since its first report over the time since
    then, shown once that time reaches :data:`RATE_AFTER` (the first report, which may
    come with items already done, has no time to divide by)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        enabled: bool | None = None,
        width: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream = stream or sys.stderr
        self._enabled = self._stream.isatty() if enabled is None else enabled
        self._width = width
        self._clock = clock
        self._phase: str | None = None
        self._started = 0.0
        self._done_at_start = 0
        self._drawn_at: float | None = None
        self._shown = False

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self._enabled:
            return
        now = self._clock()
        if phase != self._phase:
            if self._shown:
                self._stream.write("\n")
            self._phase = phase
            self._started = now
            self._done_at_start = done
            self._drawn_at = None
        elif self._drawn_at is not None and now - self._drawn_at < REDRAW_EVERY and done < total:
            return
        self._drawn_at = now
        filled = min(self._width, int(self._width * done / total)) if total > 0 else self._width
        bar = "#" * filled + "." * (self._width - filled)
        elapsed = now - self._started
        rate = ""
        if elapsed >= RATE_AFTER:
            rate = f"  {(done - self._done_at_start) / elapsed:,.1f}/s"
        self._stream.write(f"\r{phase:<11} [{bar}] {done}/{total}{rate} \x1b[K")
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._enabled and self._shown:
            self._stream.write("\n")
            self._stream.flush()
            self._shown = False
