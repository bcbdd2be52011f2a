"""Health of the Redis cache (seed 000, section 3.11)."""

from __future__ import annotations

import math
import time
from typing import Any

from adapters.redis.cache import RedisCache
from application.breaker import CircuitBreaker
from application.caching import CacheStats
from ports.health import HealthReport, HealthStatus

__all__ = ["RedisHealthCheck"]


class RedisHealthCheck:
    """Implements :class:`ports.health.HealthCheck` for a :class:`RedisCache`.

    Reports the round trip of a ``PING`` as the latency, the server's version, uptime,
    clients, memory used and allowed, evictions and keyspace hits (see
    :meth:`RedisCache.server_info`), how many restarted servers the cache found, and, when
    given, the counters and hit ratio of the cached reads (``stats``) and the state of the
    circuit breaker in front of the cache (``breaker``: closed, open or half-open, outages,
    calls skipped). DEGRADED when the round trip takes longer than ``slow_ms``;
    UNHEALTHY, with the error, when the server does not answer. Raises ValueError if
    ``name`` is blank or ``slow_ms`` negative.
    """

    def __init__(
        self,
        cache: RedisCache,
        *,
        name: str = "cache",
        slow_ms: float = 100.0,
        stats: CacheStats | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        if not isinstance(slow_ms, int | float) or not math.isfinite(slow_ms) or slow_ms < 0:
            raise ValueError(f"slow_ms must be a number of milliseconds >= 0, got {slow_ms!r}")
        self._cache = cache
        self._name = name
        self._slow_ms = float(slow_ms)
        self._stats = stats
        self._breaker = breaker

    @property
    def name(self) -> str:
        return self._name

    async def check(self) -> HealthReport:
        details: dict[str, Any] = {"backend": "redis", "server": self._cache.server}
        if self._stats is not None:
            details["reads"] = self._stats.as_dict()
        if self._breaker is not None:
            details["circuit"] = self._breaker.as_dict()
        details["restarts"] = self._cache.restarts
        started = time.perf_counter()
        try:
            latency = await self._cache.ping()
            details.update(await self._cache.server_info())
        except Exception as exc:
            return HealthReport(
                component=self._name,
                status=HealthStatus.UNHEALTHY,
                latency_ms=(time.perf_counter() - started) * 1000.0,
                details=details,
                error=f"{type(exc).__name__}: {exc}",
            )
        slow = latency > self._slow_ms
        return HealthReport(
            component=self._name,
            status=HealthStatus.DEGRADED if slow else HealthStatus.HEALTHY,
            latency_ms=latency,
            details=details,
        )
