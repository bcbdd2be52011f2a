"""Health probes."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Protocol

import attrs

__all__ = ["HealthCheck", "HealthReport", "HealthStatus"]


class HealthStatus(enum.StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"

    @property
    def rank(self) -> int:
        return {"healthy": 0, "degraded": 1, "unhealthy": 2}[self.value]


@attrs.frozen(kw_only=True)
class HealthReport:
    component: str
    status: HealthStatus
    latency_ms: float
    details: Mapping[str, Any] = attrs.field(factory=dict)
    error: str | None = None


class HealthCheck(Protocol):
    """Probes one component. ``check`` never raises: a failure is reported as UNHEALTHY
    with the error, a slow or partial answer as DEGRADED."""

    @property
    def name(self) -> str: ...
    async def check(self) -> HealthReport: ...
