"""Health of the PostgreSQL database (seed 000, section 3.11)."""

from __future__ import annotations

import time

from psycopg.rows import dict_row

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.pool import pool_stats
from ports.health import HealthReport, HealthStatus

__all__ = ["PostgresHealthCheck"]

PROBE = """
SELECT 1 AS ok,
       current_setting('server_version') AS server_version,
       pg_database_size(current_database()) AS database_size_bytes,
       (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database())
           AS server_connections
"""


class PostgresHealthCheck:
    """Round-trip latency of a query, pool size / available / waiting / utilisation,
    server version and database size. DEGRADED when the round trip takes longer than
    ``slow_ms`` or the pool is above ``busy_pct`` % in use; UNHEALTHY when the query fails."""

    def __init__(
        self,
        database: PostgresDatabase,
        *,
        name: str = "database",
        slow_ms: float = 100.0,
        busy_pct: float = 80.0,
    ) -> None:
        self._database = database
        self._name = name
        self._slow_ms = slow_ms
        self._busy_pct = busy_pct

    @property
    def name(self) -> str:
        return self._name

    async def check(self) -> HealthReport:
        started = time.perf_counter()
        try:
            pool = await self._database.pool()  # opening is not part of the round trip
            started = time.perf_counter()
            async with pool.connection() as conn:
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(PROBE)
                row = await cur.fetchone()
        except Exception as exc:
            return HealthReport(
                component=self._name,
                status=HealthStatus.UNHEALTHY,
                latency_ms=(time.perf_counter() - started) * 1000,
                error=f"{type(exc).__name__}: {exc}",
            )
        latency = (time.perf_counter() - started) * 1000
        stats = pool_stats(pool)
        assert row is not None
        details = {
            "backend": "postgres",
            "embedded": self._database.embedded,
            "server_version": row["server_version"],
            "database_size_bytes": int(row["database_size_bytes"]),
            "server_connections": int(row["server_connections"]),
            "pool": stats,
        }
        slow = latency > self._slow_ms or stats["utilisation_pct"] > self._busy_pct
        return HealthReport(
            component=self._name,
            status=HealthStatus.DEGRADED if slow else HealthStatus.HEALTHY,
            latency_ms=latency,
            details=details,
        )
