"""A PostgreSQL database as the application uses it: the server (the configured URL, or
the embedded one), its migrations, and the connection pool, opened on first use."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from adapters.postgres.embedded import (
    DEFAULT_IDLE_TIMEOUT,
    EmbeddedPostgres,
    announce_on_stderr,
    checked_idle_timeout,
    embedded_directory,
)
from adapters.postgres.migrations import upgrade_when_behind
from adapters.postgres.pool import PoolSettings, create_pool
from ports.errors import UnavailableError

__all__ = ["PostgresDatabase"]

log = logging.getLogger(__name__)


class PostgresDatabase:
    """Opens lazily and once: with no ``url`` it starts (or joins) the embedded server in
    ``data_dir``; with ``migrate`` it brings the schema to the latest version; then it
    opens the pool. :meth:`close` closes the pool and leaves the embedded server, which
    stops after ``idle_timeout`` seconds with no user (at once for 0); ``announce``
    receives the line said when this process starts it (default: stderr)."""

    def __init__(
        self,
        *,
        url: str | None = None,
        data_dir: Path | None = None,
        pool: PoolSettings | None = None,
        migrate: bool = True,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        announce: Callable[[str], None] | None = announce_on_stderr,
    ) -> None:
        if url is None and data_dir is None:
            raise ValueError("either url or data_dir (for the embedded server) is required")
        self._url = url
        self._data_dir = data_dir
        self._idle_timeout = checked_idle_timeout(idle_timeout)
        self._announce = announce
        self._settings = pool or PoolSettings()
        self._migrate = migrate
        self._pool: AsyncConnectionPool[Any] | None = None
        self._embedded: EmbeddedPostgres | None = None
        self._owns_pool = True
        self._lock = asyncio.Lock()

    @classmethod
    def from_pool(cls, pool: AsyncConnectionPool[Any]) -> PostgresDatabase:
        """A database over an already open pool (closing it stays the caller's job)."""
        database = cls(url=str(pool.conninfo), migrate=False)
        database._pool = pool
        database._owns_pool = False
        return database

    @property
    def embedded(self) -> bool:
        return self._url is None

    @property
    def url(self) -> str | None:
        """The connection URL, once open (the embedded server's is known only then)."""
        if self._url is not None:
            return self._url
        return self._embedded.url() if self._embedded is not None else None

    async def server_url(self) -> str:
        """The URL of the server, starting (or joining) the embedded one if that is ours;
        neither migrates nor opens the pool (what ``codeant db`` needs)."""
        async with self._lock:
            return await self._server_url()

    async def _server_url(self) -> str:
        if self._url is not None:
            return self._url
        if self._embedded is None:
            assert self._data_dir is not None
            embedded = EmbeddedPostgres(
                embedded_directory(self._data_dir),
                idle_timeout=self._idle_timeout,
                announce=self._announce,
            )
            await asyncio.to_thread(embedded.start)
            self._embedded = embedded
        return self._embedded.url()

    async def pool(self) -> AsyncConnectionPool[Any]:
        """The open pool, opening everything on first call."""
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                await self._open()
        assert self._pool is not None
        return self._pool

    async def _open(self) -> None:
        url = await self._server_url()
        if self._migrate:
            applied = await asyncio.to_thread(upgrade_when_behind, url)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
        if self._settings.role:
            await _check_role(url, self._settings.role)
        pool = create_pool(url, self._settings)
        try:
            await pool.open(wait=True, timeout=self._settings.timeout)
        except Exception as exc:
            await pool.close()
            raise UnavailableError(f"cannot connect to the database: {exc}") from exc
        self._pool = pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and self._owns_pool:
            await pool.close()
        embedded, self._embedded = self._embedded, None
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


async def _check_role(url: str, role: str) -> None:
    """UnavailableError, saying what to do, unless the connecting user may switch to
    ``role`` (a pool whose connections cannot would wait for its whole timeout)."""
    try:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            cur = await conn.execute(
                "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %(role)s)"
                " THEN pg_has_role(current_user, %(role)s, 'MEMBER') ELSE false END",
                {"role": role},
            )
            row = await cur.fetchone()
    except psycopg.Error as exc:
        raise UnavailableError(f"cannot connect to the database: {exc}") from exc
    if not (row and row[0]):
        raise UnavailableError(
            f"the database has no role {role!r} that this user may switch to: apply the"
            " migrations ('codeant db upgrade' creates it), grant it, or set"
            " CODEANT_DATABASE_ROLE to the application's role (empty for none)"
        )
