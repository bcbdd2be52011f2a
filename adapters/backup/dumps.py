"""Logical backups of one database: ``pg_dump`` custom-format files with a manifest each,
kept in one directory (mode 0700, files 0600).

A backup is written under a temporary name, and becomes visible (renamed, then its
manifest renamed into place) only once complete: an interrupted or failed backup leaves
nothing that :meth:`BackupStore.backups` shows or :meth:`BackupStore.verify` accepts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import psycopg
from psycopg import sql

from adapters.backup.crypto import decrypt_file, encrypt_file
from adapters.backup.manifest import MANIFEST_SUFFIX, Manifest, table_figures, write_private
from adapters.backup.tools import BackupError, client_binary, connect, login, run, server_major
from adapters.postgres.migrations import MigrationRunner
from adapters.postgres.urls import as_url

__all__ = ["BackupStore", "VerifyReport"]

Progress = Callable[[str], None]

_DATABASE_EXISTS = "SELECT 1 FROM pg_database WHERE datname = %s"
_USER_RELATIONS = (
    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname NOT LIKE 'pg_toast%%' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')"
)


@attrs.frozen
class VerifyReport:
    """The outcome of verifying one backup: ``problems`` is empty when it is sound."""

    name: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _os_error(exc: OSError, where: Path) -> BackupError:
    reason = "no space left on the device" if exc.errno == errno.ENOSPC else exc.strerror or exc
    return BackupError(f"cannot write the backup in {where}: {reason}")


class BackupStore:
    """The backups of the database at ``url``, kept in ``directory``."""

    def __init__(self, directory: Path, *, url: str) -> None:
        self.directory = Path(directory)
        self.url = url

    # ------------------------------------------------------------------ create

    def create(self, *, key: bytes | None = None, progress: Progress | None = None) -> Manifest:
        """Dump the database and write its manifest; encrypt the dump if ``key`` is given.
        Raises BackupError (the partial files removed) if anything fails."""
        say = progress or (lambda line: None)
        major = server_major(self.url)
        pg_dump = client_binary("pg_dump", major)
        now = dt.datetime.now(dt.UTC)
        name = "codeant-" + now.strftime("%Y%m%dT%H%M%S%fZ")
        final = self.directory / (name + (".dump.enc" if key else ".dump"))
        manifest_path = self.directory / (name + MANIFEST_SUFFIX)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self.directory.chmod(0o700)
        except OSError as exc:
            raise _os_error(exc, self.directory) from exc
        with self._temporary(name) as (dump, sealed, pending):
            say(f"dumping the database with {pg_dump} (PostgreSQL {major})")
            with self._figures() as (counts, sums, schema_version), login(self.url) as auth:
                run(
                    # policies apply to a non-superuser owner: read every row through them
                    [
                        str(pg_dump),
                        "--format=custom",
                        "--enable-row-security",
                        f"--file={dump}",
                        auth.url,
                    ],
                    what="pg_dump",
                    env=auth.env,
                )
            try:
                os.chmod(dump, 0o600)
                if key is not None:
                    say("encrypting the dump")
                    encrypt_file(dump, sealed, key)
                    os.chmod(sealed, 0o600)
                stored = sealed if key is not None else dump
                manifest = Manifest(
                    file=final.name,
                    created_at=now,
                    size=stored.stat().st_size,
                    sha256=_sha256(stored),
                    server_version=major,
                    schema_version=schema_version,
                    encrypted=key is not None,
                    row_counts=counts,
                    checksums=sums,
                )
                write_private(pending, manifest.to_json())
                os.replace(stored, final)
                os.replace(pending, manifest_path)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    final.unlink()
                raise _os_error(exc, self.directory) from exc
        say(f"wrote {final} ({manifest.size} bytes)")
        return manifest

    @contextlib.contextmanager
    def _temporary(self, name: str) -> Iterator[tuple[Path, Path, Path]]:
        """Temporary paths (dump, encrypted dump, manifest), removed at the end of the block."""
        stem = self.directory / f".{name}.{uuid.uuid4().hex[:8]}"
        paths = (
            stem.with_name(stem.name + ".dump.partial"),
            stem.with_name(stem.name + ".enc.partial"),
            stem.with_name(stem.name + ".manifest.partial"),
        )
        try:
            yield paths
        finally:
            for path in paths:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    @contextlib.contextmanager
    def _figures(self) -> Iterator[tuple[dict[str, int], dict[str, str], int]]:
        """The table figures and schema version, read in a repeatable-read snapshot held
        open while the block (the dump) runs, so that they match what the dump saw within
        a concurrent write or two; a quiet database gives exact figures."""
        schema_version = MigrationRunner(self.url).current_version()
        with self._connect(self.url) as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            counts, sums = table_figures(conn)
            yield counts, sums, schema_version

    # ------------------------------------------------------------------ list

    def backups(self) -> list[Manifest]:
        """The complete backups (those with a manifest), newest first."""
        if not self.directory.is_dir():
            return []
        found = [Manifest.read(p) for p in self.directory.glob("*" + MANIFEST_SUFFIX)]
        return sorted(found, key=lambda m: m.created_at, reverse=True)

    def get(self, name: str | None) -> Manifest:
        """The backup called ``name`` (the newest when None); BackupError if there is none."""
        backups = self.backups()
        if not backups:
            raise BackupError(f"no backups in {self.directory}")
        if name is None:
            return backups[0]
        for manifest in backups:
            if name in (manifest.name, manifest.file):
                return manifest
        raise BackupError(f"no backup named {name!r} in {self.directory}")

    # ------------------------------------------------------------------ verify

    def verify(
        self, name: str | None = None, *, key: bytes | None = None, progress: Progress | None = None
    ) -> VerifyReport:
        """Check the backup's checksum, restore it into a scratch database and compare its
        row counts and content checksums with the manifest; the scratch database is dropped."""
        say = progress or (lambda line: None)
        manifest = self.get(name)
        path = self.directory / manifest.file
        if not path.is_file():
            return VerifyReport(manifest.name, (f"file {manifest.file} is missing",))
        if _sha256(path) != manifest.sha256:
            return VerifyReport(manifest.name, (f"sha256 of {manifest.file} differs",))
        scratch = f"codeant_verify_{uuid.uuid4().hex[:12]}"
        say(f"restoring {manifest.name} into the scratch database {scratch}")
        try:
            self._restore_into(manifest, scratch, key)
            with self._connect(self._database_url(scratch)) as conn:
                counts, sums = table_figures(conn)
        except BackupError as exc:
            return VerifyReport(manifest.name, (str(exc),))
        finally:
            self._drop(scratch)
        problems = []
        for table in sorted(set(counts) | set(manifest.row_counts)):
            want, got = manifest.row_counts.get(table), counts.get(table)
            if want != got:
                rows = "row" if got == 1 else "rows"
                problems.append(f"{table}: {got} {rows} restored, manifest says {want}")
            elif sums.get(table) != manifest.checksums.get(table):
                problems.append(f"{table}: content checksum differs from the manifest")
        return VerifyReport(manifest.name, tuple(problems))

    # ------------------------------------------------------------------ restore

    def restore(
        self,
        name: str | None,
        *,
        database: str,
        force: bool = False,
        key: bytes | None = None,
        progress: Progress | None = None,
    ) -> str:
        """Restore the backup into a fresh database ``database`` and return its URL. An
        existing database that holds any relation is replaced only with ``force``."""
        say = progress or (lambda line: None)
        manifest = self.get(name)
        if self._exists(database):
            if self._holds_data(database) and not force:
                raise BackupError(
                    f"database {database!r} exists and is not empty; pass --force to replace it"
                )
            self._drop(database)
        say(f"restoring {manifest.name} into the database {database}")
        try:
            self._restore_into(manifest, database, key)
        except BaseException:
            self._drop(database)  # a half-restored database must not pass for a restore
            raise
        return self._database_url(database)

    def _restore_into(self, manifest: Manifest, database: str, key: bytes | None) -> None:
        with self._connect(self._admin_url(), autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        pg_restore = client_binary("pg_restore", server_major(self.url))
        with tempfile.TemporaryDirectory(prefix="codeant-restore-") as scratch:
            source = self.directory / manifest.file
            if manifest.encrypted:
                if key is None:
                    raise BackupError(f"{manifest.file} is encrypted: a key is needed")
                plain = Path(scratch) / "backup.dump"
                decrypt_file(source, plain, key)
                source = plain
            with login(self._database_url(database)) as auth:
                run(
                    [
                        str(pg_restore),
                        "--no-owner",
                        "--exit-on-error",
                        f"--dbname={auth.url}",
                        str(source),
                    ],
                    what="pg_restore",
                    env=auth.env,
                )

    # ------------------------------------------------------------------ prune

    def prune(self, *, keep_daily: int, keep_weekly: int) -> list[str]:
        """Keep the newest backup of each of the ``keep_daily`` most recent days that have
        one, and of each of the ``keep_weekly`` most recent ISO weeks; delete the others
        (file and manifest) and return their names."""
        for label, value in (("keep_daily", keep_daily), ("keep_weekly", keep_weekly)):
            if value < 0:
                raise ValueError(f"{label} must be 0 or more (got {value})")
        if keep_daily + keep_weekly == 0:
            raise ValueError("keep_daily and keep_weekly are both 0: that would delete all")
        backups = self.backups()
        keep = _newest_per(backups, lambda m: m.created_at.date().isoformat(), keep_daily)
        keep |= _newest_per(backups, lambda m: str(m.created_at.isocalendar()[:2]), keep_weekly)
        doomed = [m for m in backups if m.name not in keep]
        for manifest in doomed:
            (self.directory / (manifest.name + MANIFEST_SUFFIX)).unlink(missing_ok=True)
            (self.directory / manifest.file).unlink(missing_ok=True)
        return [m.name for m in doomed]

    # ------------------------------------------------------------------ internals

    def _admin_url(self) -> str:
        return self._database_url("postgres")

    def _database_url(self, database: str) -> str:
        return as_url(psycopg.conninfo.make_conninfo(self.url, dbname=database))

    @staticmethod
    def _connect(url: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
        return connect(url, autocommit=autocommit)

    def _exists(self, database: str) -> bool:
        with self._connect(self._admin_url(), autocommit=True) as conn:
            return conn.execute(_DATABASE_EXISTS, (database,)).fetchone() is not None

    def _holds_data(self, database: str) -> bool:
        with self._connect(self._database_url(database)) as conn:
            row = conn.execute(_USER_RELATIONS).fetchone()
        return bool(row and row[0])

    def _drop(self, database: str) -> None:
        with self._connect(self._admin_url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
            )


def _newest_per(backups: list[Manifest], bucket: Callable[[Manifest], str], count: int) -> set[str]:
    """Names of the newest backup in each of the ``count`` newest buckets (``backups`` is
    sorted newest first)."""
    kept: dict[str, str] = {}
    for manifest in backups:
        key = bucket(manifest)
        if key not in kept:
            if len(kept) == count:
                break
            kept[key] = manifest.name
    return set(kept.values())
