"""Retrying a whole unit of work when a concurrent change won."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ports.errors import ConcurrencyError

__all__ = ["with_retry"]

T = TypeVar("T")


async def with_retry(
    operation: Callable[[], Awaitable[T]],
    *,
    attempts: int = 5,
    base_delay: float = 0.01,
    max_delay: float = 0.5,
) -> T:
    """Await ``operation()`` until it does not raise ConcurrencyError, at most ``attempts``
    times, and return its result; the last ConcurrencyError is re-raised.

    Before attempt ``n + 1`` it sleeps a random time up to ``min(max_delay, base_delay *
    2**(n - 1))`` seconds (full jitter), so that competing callers spread out. Any other
    exception propagates at once. ``operation`` must redo all its work, reading afresh:
    services are such operations, e.g. ``with_retry(lambda: start_analysis(uow, job_id))``.
    """
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
        raise ValueError(f"attempts must be an integer of at least 1, got {attempts!r}")
    if base_delay < 0 or max_delay < 0:
        raise ValueError(
            f"delays must not be negative, got base_delay={base_delay!r}, max_delay={max_delay!r}"
        )
    for attempt in range(attempts - 1):
        try:
            return await operation()
        except ConcurrencyError:
            await asyncio.sleep(random.uniform(0, min(max_delay, base_delay * 2**attempt)))
    return await operation()
