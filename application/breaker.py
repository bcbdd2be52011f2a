"""A circuit breaker for the cache: a cache that fails is skipped for a while.

Without it, every read during a cache outage would wait for the cache's timeout before
falling through to the store (half a second per read on a Redis that does not answer).
:class:`GuardedCache` puts a :class:`CircuitBreaker` in front of a cache:

- **closed**: calls go through. A call that fails with
  :class:`~ports.errors.UnavailableError` opens the breaker.
- **open**: for ``open_seconds`` after that failure every call fails at once with
  :class:`CacheSkipped` (an UnavailableError, so callers handle it as the outage it is),
  without touching the cache.
- **half-open**: once ``open_seconds`` have passed, the next call goes through as a probe
  while the others are still refused. If it answers the breaker closes; if it fails the
  breaker opens again for ``open_seconds``.

Only UnavailableError counts as a failure: any other outcome (a value, a ValidationError
about a key) means the cache answered. The breaker is shared by everything that uses the
cache in a process (cached reads, invalidation, the outbox relay), so a relay can ask
:meth:`CircuitBreaker.ready` before taking work it could not do.
"""

from __future__ import annotations

import enum
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ports.cache import Cache
from ports.errors import UnavailableError

__all__ = [
    "DEFAULT_OPEN_SECONDS",
    "CacheSkipped",
    "CircuitBreaker",
    "CircuitState",
    "GuardedCache",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_OPEN_SECONDS = 5.0
"""How long a failed cache is skipped before a probe, by default."""


class CacheSkipped(UnavailableError):
    """The cache failed recently and is skipped until its next probe."""


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    """The state of one cache's health as seen by this process (see the module's
    documentation). ``clock`` (seconds, monotonic) is the time source. ``outages``
    counts the times it opened after being closed, ``skipped`` the calls it refused.
    Raises ValueError if ``open_seconds`` is not a positive number of seconds."""

    def __init__(
        self,
        *,
        open_seconds: float = DEFAULT_OPEN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (
            not isinstance(open_seconds, int | float)
            or isinstance(open_seconds, bool)
            or not math.isfinite(open_seconds)
            or open_seconds <= 0
        ):
            raise ValueError(f"open_seconds must be a positive number, got {open_seconds!r}")
        self._open_seconds = float(open_seconds)
        self._clock = clock
        self._open = False
        self._retry_at = 0.0
        self._probing = False
        self._last_error = ""
        self.outages = 0
        self.skipped = 0

    @property
    def open_seconds(self) -> float:
        return self._open_seconds

    @property
    def state(self) -> CircuitState:
        if not self._open:
            return CircuitState.CLOSED
        if self._probing or self._clock() >= self._retry_at:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    def ready(self) -> bool:
        """Whether a call made now could reach the cache (closed, or due for a probe)."""
        return not self._open or (not self._probing and self._clock() >= self._retry_at)

    def as_dict(self) -> dict[str, object]:
        """The state and counters, as health details."""
        return {"state": str(self.state), "outages": self.outages, "skipped": self.skipped}

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """What ``operation`` returns, unless the breaker is open: then CacheSkipped at
        once. An UnavailableError from ``operation`` opens the breaker (and propagates)."""
        probe = self._admit()
        try:
            result = await operation()
        except UnavailableError as exc:
            self._failed(exc)
            raise
        except Exception:
            if probe:
                self._answered()  # the cache answered, with an error about the request
            raise
        except BaseException:
            if probe:
                self._probing = False  # cancelled: no answer either way; the next call probes
            raise
        if probe:
            self._answered()
        return result

    def _admit(self) -> bool:
        """Whether the call about to be made is a probe; CacheSkipped if it may not be made."""
        if not self._open:
            return False
        if self._probing or self._clock() < self._retry_at:
            self.skipped += 1
            left = max(0.0, self._retry_at - self._clock())
            raise CacheSkipped(
                f"the cache is skipped for another {left:.1f} s after it failed"
                f" ({self._last_error})"
            )
        self._probing = True
        return True

    def _failed(self, exc: BaseException) -> None:
        if not self._open:
            self.outages += 1
            log.info(
                "the cache failed; skipping it for %g s at a time until it answers: %s: %s",
                self._open_seconds,
                type(exc).__name__,
                exc,
            )
        self._open = True
        self._probing = False
        self._retry_at = self._clock() + self._open_seconds
        self._last_error = f"{type(exc).__name__}: {exc}"

    def _answered(self) -> None:
        if self._open:
            log.info("the cache answers again")
        self._open = False
        self._probing = False


class GuardedCache:
    """Implements :class:`~ports.cache.Cache` over ``cache``, skipping it while
    ``breaker`` is open (see the module's documentation)."""

    def __init__(self, cache: Cache, breaker: CircuitBreaker) -> None:
        self._cache = cache
        self.breaker = breaker

    @property
    def cache(self) -> Cache:
        """The cache behind the breaker."""
        return self._cache

    async def get(self, key: str) -> bytes | None:
        return await self.breaker.call(lambda: self._cache.get(key))

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        await self.breaker.call(lambda: self._cache.set(key, value, ttl=ttl))

    async def delete(self, *keys: str) -> int:
        return await self.breaker.call(lambda: self._cache.delete(*keys))

    async def incr(self, key: str) -> int:
        return await self.breaker.call(lambda: self._cache.incr(key))
