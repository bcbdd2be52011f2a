"""How the main job reports its progress."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress", "every", "silent"]

Progress = Callable[[str, int, int], None]
"""Called as ``progress(phase, done, total)`` while a phase advances."""


def silent(phase: str, done: int, total: int) -> None:
    """A Progress that reports nothing."""


def every(report: Progress, phase: str, done: int, total: int, step: int = 50) -> None:
    """Report every ``step`` items and at the end."""
    if done % step == 0 or done == total:
        report(phase, done, total)
