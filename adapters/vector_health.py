"""Health of a vector store, whichever adapter implements it (seed 000, section 3.11)."""

from __future__ import annotations

import time
from typing import Any

from ports.health import HealthReport, HealthStatus
from ports.vectors import VectorStore

__all__ = ["VectorStoreHealthCheck"]


class VectorStoreHealthCheck:
    """Implements :class:`ports.health.HealthCheck` for any
    :class:`ports.vectors.VectorStore`: lists its collections (each with its dimension,
    distance and point count) and times the round trip.

    HEALTHY with the collections, the total of points and ``backend`` (a label for the
    report, e.g. ``"qdrant"``) in the details, and what the store's own ``health_details()``
    coroutine adds when it has one (Qdrant Edge: its directory and how many vectors its
    HNSW indexes hold); DEGRADED when the listing took longer than ``slow_ms``; UNHEALTHY
    with the error when it failed. ``check`` never raises. Raises ValueError on a blank
    ``name`` or ``backend`` or a ``slow_ms`` that is not positive.
    """

    def __init__(
        self,
        store: VectorStore,
        *,
        backend: str,
        name: str = "vector_store",
        slow_ms: float = 500.0,
    ) -> None:
        for field, value in (("name", name), ("backend", backend)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{field} must be a non-empty string, got {value!r}")
        if not isinstance(slow_ms, int | float) or isinstance(slow_ms, bool) or slow_ms <= 0:
            raise ValueError(f"slow_ms must be a positive number, got {slow_ms!r}")
        self._store = store
        self._backend = backend
        self._name = name
        self._slow_ms = float(slow_ms)

    @property
    def name(self) -> str:
        return self._name

    async def check(self) -> HealthReport:
        started = time.perf_counter()
        extra: dict[str, Any] = {}
        try:
            infos = await self._store.collections()
            describe = getattr(self._store, "health_details", None)
            if describe is not None:
                extra = dict(await describe())
        except Exception as exc:
            return HealthReport(
                component=self._name,
                status=HealthStatus.UNHEALTHY,
                latency_ms=_elapsed_ms(started),
                details={"backend": self._backend},
                error=f"{type(exc).__name__}: {exc}",
            )
        latency = _elapsed_ms(started)
        collections = [
            {
                "name": info.name,
                "dimension": info.dimension,
                "distance": info.distance.value,
                "points": info.points,
            }
            for info in infos
        ]
        return HealthReport(
            component=self._name,
            status=HealthStatus.DEGRADED if latency > self._slow_ms else HealthStatus.HEALTHY,
            latency_ms=latency,
            details={
                "backend": self._backend,
                "collections": collections,
                "points": sum(info.points for info in infos),
                **extra,
            },
        )


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
