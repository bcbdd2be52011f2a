"""Waiting for something to become true, for tests of background work: poll with a
generous deadline and assert the outcome, never how long it took."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

__all__ = ["eventually"]

DEADLINE = 60.0
"""Seconds after which a condition that never became true fails the test."""


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], *, within: float = DEADLINE, what: str = ""
) -> None:
    """Return once ``check()`` (plain or async) is true, polling every 10 ms; fail the
    test with ``what`` if it is still false after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        outcome = check()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        assert loop.time() < deadline, f"not true within {within:g} s: {what or check}"
        await asyncio.sleep(0.01)
