"""A health check of an in-process component."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from ports.health import HealthReport, HealthStatus

__all__ = ["MemoryHealthCheck"]


class MemoryHealthCheck:
    """Implements :class:`ports.health.HealthCheck` for a component living in this process.

    ``probe`` (optional) is called on every check; what it returns becomes the report's
    details (counts, sizes), and how long it took the latency. If it raises, or returns
    something that is not a mapping, the report is UNHEALTHY with the error; ``check``
    itself never raises. Raises ValueError if ``name`` is blank.
    """

    def __init__(
        self, name: str = "memory", *, probe: Callable[[], Mapping[str, Any]] | None = None
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name must be a non-empty string, got {name!r}")
        self._name = name
        self._probe = probe

    @property
    def name(self) -> str:
        return self._name

    async def check(self) -> HealthReport:
        started = time.perf_counter()
        try:
            details = self._details()
        except Exception as exc:
            return HealthReport(
                component=self._name,
                status=HealthStatus.UNHEALTHY,
                latency_ms=_elapsed_ms(started),
                error=f"{type(exc).__name__}: {exc}",
            )
        return HealthReport(
            component=self._name,
            status=HealthStatus.HEALTHY,
            latency_ms=_elapsed_ms(started),
            details=details,
        )

    def _details(self) -> dict[str, Any]:
        if self._probe is None:
            return {}
        result = self._probe()
        if not isinstance(result, Mapping):
            raise TypeError(f"the probe returned {type(result).__name__}, not a mapping")
        return dict(result)


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
