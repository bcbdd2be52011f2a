"""The connection pool (psycopg-pool) every PostgreSQL adapter draws from."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import attrs
from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ports.errors import UnavailableError

__all__ = ["PoolSettings", "create_pool", "open_pool", "pool_stats"]


def _positive(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{attribute.name} must be a positive number (got {value!r})")


def _size(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1000:
        raise ValueError(f"{attribute.name} must be an integer from 0 to 1000 (got {value!r})")


@attrs.frozen(kw_only=True)
class PoolSettings:
    """Sizes are connections; times are seconds. ``timeout`` bounds the wait for a free
    connection, ``max_lifetime`` recycles connections, ``max_idle`` closes spare ones.
    ``role``: every connection switches to that role (``SET ROLE``), the application's
    (migration 0011's ``codeant_app``), so that row-level security applies to it."""

    min_size: int = attrs.field(default=1, validator=_size)
    max_size: int = attrs.field(default=10, validator=_size)
    timeout: float = attrs.field(default=30.0, validator=_positive)
    max_lifetime: float = attrs.field(default=3600.0, validator=_positive)
    max_idle: float = attrs.field(default=600.0, validator=_positive)
    connect_timeout: int = attrs.field(default=10, validator=_positive)
    role: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.max_size < max(self.min_size, 1):
            raise ValueError(
                f"max_size ({self.max_size}) must be at least min_size ({self.min_size}) and 1"
            )


def create_pool(url: str, settings: PoolSettings | None = None) -> AsyncConnectionPool[Any]:
    """A closed pool of ``url`` whose connections return rows as dicts; open it with
    :func:`open_pool` (or ``await pool.open()``). Connections are checked before use."""
    s = settings or PoolSettings()
    return AsyncConnectionPool(
        url,
        configure=None if not s.role else _switch_role(s.role),
        min_size=s.min_size,
        max_size=s.max_size,
        timeout=s.timeout,
        max_lifetime=s.max_lifetime,
        max_idle=s.max_idle,
        open=False,
        check=AsyncConnectionPool.check_connection,
        kwargs={
            "row_factory": dict_row,
            "connect_timeout": s.connect_timeout,
            "application_name": "codeant",
        },
        name="codeant",
    )


def _switch_role(role: str) -> Any:
    statement = sql.SQL("SET ROLE {}").format(sql.Identifier(role))

    async def configure(conn: AsyncConnection[Any]) -> None:
        await conn.set_autocommit(True)
        try:
            await conn.execute(statement)
        finally:
            await conn.set_autocommit(False)

    return configure


@contextlib.asynccontextmanager
async def open_pool(
    url: str, settings: PoolSettings | None = None
) -> AsyncIterator[AsyncConnectionPool[Any]]:
    """An open pool for the block, closed after it; UnavailableError if the server does
    not answer within the pool timeout."""
    pool = create_pool(url, settings)
    try:
        await pool.open(wait=True, timeout=(settings or PoolSettings()).timeout)
    except PoolTimeout as exc:
        await pool.close()
        raise UnavailableError(f"cannot connect to the database: {exc}") from exc
    try:
        yield pool
    finally:
        await pool.close()


def pool_stats(pool: AsyncConnectionPool[Any]) -> dict[str, Any]:
    """Size, available and waiting connections, and utilisation (% of max in use)."""
    stats = pool.get_stats()
    size = stats.get("pool_size", 0)
    available = stats.get("pool_available", 0)
    in_use = size - available
    return {
        "size": size,
        "available": available,
        "in_use": in_use,
        "waiting": stats.get("requests_waiting", 0),
        "min_size": pool.min_size,
        "max_size": pool.max_size,
        "utilisation_pct": round(100.0 * in_use / pool.max_size, 1) if pool.max_size else 0.0,
    }
