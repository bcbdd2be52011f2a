"""Schema migrations: yoyo SQL migrations under ``migrations/``, applied atomically.

Each migration ``NNNN_name.sql`` has its ``NNNN_name.rollback.sql``; its version is the
number ``NNNN``. The runner differs from plain yoyo in two ways that matter in production:

* a migration and the record that it was applied commit in one transaction, so a process
  killed at any point leaves the database at the previous version or the next, never
  between (PostgreSQL runs DDL inside transactions);
* runners serialize on a PostgreSQL advisory lock held by their session, so two started
  at once apply each migration exactly once, and a killed runner's lock goes with its
  connection (no stale lock row to break by hand).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.resources
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import psycopg
from psycopg import sql

from adapters.postgres.schema import SchemaSnapshot, diff_snapshots, read_schema
from adapters.postgres.urls import as_url
from ports.errors import PersistenceError, UnavailableError

if TYPE_CHECKING:  # yoyo loads when a migration is read or run, not when one is checked
    from yoyo.migrations import Migration

__all__ = [
    "MigrationError",
    "MigrationRunner",
    "MigrationState",
    "default_migrations_dir",
    "upgrade_when_behind",
]

_LOCK_KEY = 0x0C0DEA17  # pg_advisory_lock key of the migration runners
MIGRATION_TABLE = "_yoyo_migration"


class MigrationError(PersistenceError):
    """A migration could not be applied or rolled back, or the request was invalid (a
    port-level error, so the command line reports it in one line wherever it arises, as
    when a database is migrated on first use)."""


@attrs.frozen
class MigrationState:
    version: int
    id: str
    applied_at: dt.datetime | None

    @property
    def applied(self) -> bool:
        return self.applied_at is not None


def default_migrations_dir() -> Path:
    """The ``migrations`` directory shipped with the package."""
    return Path(str(importlib.resources.files("migrations")))


def _yoyo_url(url: str) -> str:
    try:
        return as_url(url, scheme="postgresql+psycopg")
    except ValueError as exc:
        raise MigrationError(str(exc)) from exc


def _version(migration: Migration) -> int:
    head = migration.id.split("_", 1)[0]
    if not head.isdigit():
        raise MigrationError(f"migration {migration.id!r} does not start with a version number")
    return int(head)


Progress = Callable[[str, str], None]


class MigrationRunner:
    """Applies, rolls back and checks the schema migrations of one database."""

    def __init__(
        self,
        url: str,
        *,
        directory: Path | None = None,
        lock_timeout: float = 60.0,
        progress: Progress | None = None,
    ) -> None:
        if lock_timeout <= 0:
            raise ValueError(f"lock_timeout must be positive (got {lock_timeout})")
        self.url = url
        self.directory = directory or default_migrations_dir()
        self.lock_timeout = lock_timeout
        self._progress = progress or (lambda action, migration: None)
        from yoyo import read_migrations

        found = read_migrations(str(self.directory))
        self._migrations = sorted((m for m in found if m.path.endswith(".sql")), key=_version)
        versions = [_version(m) for m in self._migrations]
        if len(set(versions)) != len(versions):
            raise MigrationError(f"two migrations share a version in {self.directory}")
        for migration in self._migrations:
            if not Path(migration.path).with_suffix(".rollback.sql").exists():
                raise MigrationError(f"migration {migration.id} has no .rollback.sql")

    # ------------------------------------------------------------------ queries

    @property
    def latest_version(self) -> int:
        return _version(self._migrations[-1]) if self._migrations else 0

    def status(self) -> list[MigrationState]:
        """Every known migration, oldest first, with when it was applied."""
        with self._backend() as backend:
            applied = self._applied(backend)
        return [MigrationState(_version(m), m.id, applied.get(m.hash)) for m in self._migrations]

    def current_version(self) -> int:
        """The highest applied version (0 on an empty database)."""
        states = [s for s in self.status() if s.applied]
        return max((s.version for s in states), default=0)

    # ------------------------------------------------------------------ changes

    def upgrade(self, *, to: int | None = None) -> list[str]:
        """Apply pending migrations up to version ``to`` (all by default); returns the ids
        applied. Each commits with its bookkeeping row, or not at all."""
        target = self.latest_version if to is None else self._check_target(to)
        with self._locked() as lock, self._backend() as backend:
            applied = self._applied(backend)
            done = []
            for migration in self._migrations:
                if _version(migration) > target or migration.hash in applied:
                    continue
                self._progress("apply", migration.id)
                self._run(backend, migration, "apply")
                done.append(migration.id)
            _add_audit_partitions(lock)
            return done

    def downgrade(self, *, to: int | None = None) -> list[str]:
        """Roll back applied migrations above version ``to`` (one step when None; 0 rolls
        back everything), newest first; returns the ids rolled back."""
        with self._locked(), self._backend() as backend:
            applied = self._applied(backend)
            live = [m for m in self._migrations if m.hash in applied]
            if to is None:
                doomed = live[-1:]
            else:
                target = self._check_target(to)
                doomed = [m for m in live if _version(m) > target]
            done = []
            for migration in reversed(doomed):
                self._progress("rollback", migration.id)
                self._run(backend, migration, "rollback")
                done.append(migration.id)
            return done

    def verify(self) -> list[str]:
        """Differences between the live schema and the one the applied migrations build
        (an empty list when they agree), found by applying those migrations to a scratch
        database on the same server and comparing the catalogs."""
        applied_ids = {s.id for s in self.status() if s.applied}
        scratch = f"codeant_verify_{uuid.uuid4().hex[:12]}"
        with self._connect(autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
        try:
            with self._connect(dbname=scratch) as conn:
                for migration in self._migrations:
                    if migration.id in applied_ids:
                        conn.execute(Path(migration.path).read_text(encoding="utf-8"))
                conn.commit()
                expected = read_schema(conn)
            with self._connect() as conn:
                actual = read_schema(conn)
        finally:
            with self._connect(autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(scratch)
                    )
                )
        return diff_snapshots(expected, actual)

    def snapshot(self) -> SchemaSnapshot:
        with self._connect() as conn:
            return read_schema(conn)

    # ------------------------------------------------------------------ internals

    def _check_target(self, to: int) -> int:
        known = {0} | {_version(m) for m in self._migrations}
        if to not in known:
            raise MigrationError(
                f"no migration has version {to}; known versions: "
                + ", ".join(str(v) for v in sorted(known))
            )
        return to

    def _run(self, backend: Any, migration: Migration, direction: str) -> None:
        try:
            with backend.transaction():
                migration.process_steps(backend, direction)
                if direction == "apply":
                    backend.mark_one(migration, log=False)
                else:
                    backend.unmark_one(migration, log=False)
                backend.log_migration(migration, direction)
        except backend.DatabaseError as exc:
            raise MigrationError(f"{direction} of {migration.id} failed: {exc}") from exc

    def _applied(self, backend: Any) -> dict[str, dt.datetime]:
        backend.ensure_internal_schema_updated()
        rows = backend.execute(
            f"SELECT migration_hash, applied_at_utc FROM {MIGRATION_TABLE}"
        ).fetchall()
        return {h: (a.replace(tzinfo=dt.UTC) if a.tzinfo is None else a) for h, a in rows}

    @contextlib.contextmanager
    def _backend(self) -> Iterator[Any]:
        from yoyo import get_backend

        try:
            backend = get_backend(_yoyo_url(self.url), migration_table=MIGRATION_TABLE)
        except psycopg.OperationalError as exc:
            raise UnavailableError(f"cannot connect to the database: {exc}") from exc
        try:
            yield backend
        finally:
            backend.connection.close()

    def _connect(self, *, dbname: str | None = None, autocommit: bool = False) -> Any:
        return _connect(self.url, dbname=dbname, autocommit=autocommit)

    def _locked(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        return _locked(self._connect(autocommit=True), self.lock_timeout)


def upgrade_when_behind(url: str, *, lock_timeout: float = 60.0) -> list[str]:
    """What opening a database with ``migrate`` runs: :meth:`MigrationRunner.upgrade`
    when a shipped migration is not applied; else only the audit trail's partitions for
    the months ahead, on one connection, without reading the migrations (nor loading
    yoyo). Returns the ids applied."""
    shipped = {
        path.name.removesuffix(".sql")
        for path in default_migrations_dir().glob("*.sql")
        if not path.name.endswith(".rollback.sql")
    }
    with _locked(_connect(url, autocommit=True), lock_timeout) as conn:
        applied = set()
        if _first(conn, "SELECT to_regclass(%s) IS NOT NULL", (MIGRATION_TABLE,)):
            rows = conn.execute(f"SELECT migration_id FROM {MIGRATION_TABLE}").fetchall()
            applied = {row[0] for row in rows}
        if shipped <= applied:
            _add_audit_partitions(conn)
            return []
    return MigrationRunner(url, lock_timeout=lock_timeout).upgrade()


def _connect(url: str, *, dbname: str | None = None, autocommit: bool = False) -> Any:
    kwargs: dict[str, Any] = {"autocommit": autocommit}
    if dbname is not None:
        kwargs["dbname"] = dbname
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.OperationalError as exc:
        raise UnavailableError(f"cannot connect to the database: {exc}") from exc


@contextlib.contextmanager
def _locked(
    connection: psycopg.Connection[Any], lock_timeout: float
) -> Iterator[psycopg.Connection[Any]]:
    """Hold the runners' advisory lock on ``connection`` (autocommit) for the block,
    waiting up to ``lock_timeout`` seconds for it; the connection closes after."""
    with connection as conn:
        deadline = time.monotonic() + lock_timeout
        while not _first(conn, "SELECT pg_try_advisory_lock(%s)", (_LOCK_KEY,)):
            if time.monotonic() > deadline:
                raise MigrationError(
                    f"another migration runner held the lock for {lock_timeout:g} s"
                )
            time.sleep(0.1)
        try:
            yield conn
        finally:
            if not conn.closed:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def _first(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...] = ()) -> Any:
    """The first column of the first row of ``query`` (None without a row)."""
    row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def _add_audit_partitions(conn: psycopg.Connection[Any]) -> None:
    """Give the audit trail its partitions for the months ahead (where the schema has one):
    the months a long-running installation reaches get theirs as it upgrades."""
    if _first(conn, "SELECT to_regprocedure('codeant_audit_partitions(integer)') IS NOT NULL"):
        conn.execute("SELECT codeant_audit_partitions()")
