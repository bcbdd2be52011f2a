"""A progress line for long commands: a bar with counts and rate on a terminal, nothing
otherwise (so logs and pipes stay clean)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """Call it as ``bar(phase, done, total)``; :meth:`close` ends the line."""

    def __init__(
        self, stream: TextIO | None = None, *, enabled: bool | None = None, width: int = 30
    ) -> None:
        self._stream = stream or sys.stderr
        self._enabled = self._stream.isatty() if enabled is None else enabled
        self._width = width
        self._phase: str | None = None
        self._started = time.monotonic()
        self._shown = False

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self._enabled:
            return
        if phase != self._phase:
            if self._shown:
                self._stream.write("\n")
            self._phase = phase
            self._started = time.monotonic()
        elapsed = max(time.monotonic() - self._started, 1e-6)
        filled = int(self._width * done / total) if total else self._width
        bar = "#" * filled + "." * (self._width - filled)
        rate = done / elapsed
        self._stream.write(f"\r{phase:<11} [{bar}] {done}/{total}  {rate:,.1f}/s ")
        self._stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._enabled and self._shown:
            self._stream.write("\n")
            self._stream.flush()
            self._shown = False
