"""Logical backups on a real server: create, list, verify, restore, prune, encryption,
and the errors that must leave nothing that looks like a valid backup."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest

from adapters.backup import BackupError, BackupStore, Manifest
from adapters.backup.manifest import MANIFEST_SUFFIX
from adapters.cli import Context
from adapters.cli.backup import BACKUP
from adapters.config import Settings
from adapters.container import build_container
from adapters.postgres import MigrationRunner
from tests.servers import scratch_database

_ORGS = (
    "INSERT INTO organizations (name, slug)"
    " SELECT 'Org ' || n, 'org-' || n FROM generate_series(1, %s) n"
)


@pytest.fixture
def database(postgres_server_url: str) -> Iterator[str]:
    with scratch_database(postgres_server_url, prefix="codeant_backup") as url:
        MigrationRunner(url).upgrade()
        with psycopg.connect(url) as conn:
            conn.execute(_ORGS, (5,))
        yield url


def sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        cursor = conn.execute(query, params or None)
        return cursor.fetchall() if cursor.description else []


def test_create_writes_a_private_dump_with_a_complete_manifest(
    database: str, tmp_path: Path
) -> None:
    """A backup is a 0600 dump in a 0700 directory, its manifest listing size, sha256, schema
    version and exact per-table row counts."""
    store = BackupStore(tmp_path / "backups", url=database)
    manifest = store.create()
    dump = store.directory / manifest.file
    assert stat.S_IMODE(store.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(dump.stat().st_mode) == 0o600
    manifest_file = store.directory / (manifest.name + MANIFEST_SUFFIX)
    assert stat.S_IMODE(manifest_file.stat().st_mode) == 0o600
    assert json.loads(manifest_file.read_text())["sha256"] == manifest.sha256
    assert manifest.size == dump.stat().st_size
    assert manifest.schema_version == MigrationRunner(database).latest_version
    assert manifest.row_counts["organizations"] == 5
    assert manifest.row_counts["outbox_events"] == 0
    assert not manifest.encrypted
    assert [p.name for p in store.directory.iterdir() if p.name.startswith(".")] == []


def test_verify_accepts_a_sound_backup_and_names_a_tampered_table(
    database: str, tmp_path: Path
) -> None:
    """Verify restores into a scratch database and compares with the manifest: OK for a
    sound backup, FAILED naming the table whose figures differ."""
    store = BackupStore(tmp_path, url=database)
    manifest = store.create()
    assert store.verify(manifest.name).ok
    forged = attrs.evolve(manifest, row_counts={**manifest.row_counts, "organizations": 6})
    (tmp_path / (manifest.name + MANIFEST_SUFFIX)).write_text(forged.to_json())
    report = store.verify(manifest.name)
    assert not report.ok
    assert len(report.problems) == 1
    assert report.problems[0].startswith("organizations:")
    leftovers = sql(
        database, "SELECT datname FROM pg_database WHERE datname LIKE 'codeant_verify_%'"
    )
    assert leftovers == []


def test_verify_detects_a_corrupted_file(database: str, tmp_path: Path) -> None:
    """A dump whose bytes changed fails verification on its sha256."""
    store = BackupStore(tmp_path, url=database)
    manifest = store.create()
    with (tmp_path / manifest.file).open("ab") as handle:
        handle.write(b"x")
    assert store.verify().problems == (f"sha256 of {manifest.file} differs",)


def test_restore_into_a_new_database_brings_the_rows_back(
    database: str, postgres_server_url: str, tmp_path: Path
) -> None:
    """Restore creates the named database with the backed-up rows; it refuses an existing
    non-empty database unless forced."""
    store = BackupStore(tmp_path, url=database)
    store.create()
    sql(database, "DELETE FROM organizations")
    name = f"codeant_restored_{secrets.token_hex(4)}"
    try:
        url = store.restore(None, database=name)
        assert sql(url, "SELECT count(*) FROM organizations") == [(5,)]
        with pytest.raises(BackupError, match="not empty; pass --force"):
            store.restore(None, database=name)
        sql(url, "DELETE FROM organizations")
        url = store.restore(None, database=name, force=True)
        assert sql(url, "SELECT count(*) FROM organizations") == [(5,)]
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    psycopg.sql.Identifier(name)
                )
            )


def test_an_encrypted_backup_verifies_with_its_key_only(database: str, tmp_path: Path) -> None:
    """An encrypted dump does not hold the plain dump's bytes, verifies with the right key,
    fails with a clear error under a wrong key, and restoring it without a key leaves no
    database behind."""
    store = BackupStore(tmp_path, url=database)
    key = secrets.token_bytes(32)
    manifest = store.create(key=key)
    assert manifest.encrypted and manifest.file.endswith(".dump.enc")
    assert not (tmp_path / manifest.file).read_bytes().startswith(b"PGDMP")
    assert store.verify(key=key).ok
    report = store.verify(key=secrets.token_bytes(32))
    assert report.problems == (f"cannot decrypt {manifest.file}: wrong key or altered file",)
    name = f"codeant_restored_{secrets.token_hex(4)}"
    with pytest.raises(BackupError, match="is encrypted: a key is needed"):
        store.restore(None, database=name)
    assert sql(database, "SELECT 1 FROM pg_database WHERE datname = %s", name) == []


def _fake(directory: Path, when: dt.datetime) -> None:
    name = "codeant-" + when.strftime("%Y%m%dT%H%M%S%fZ")
    (directory / f"{name}.dump").write_bytes(b"")
    manifest = Manifest(
        file=f"{name}.dump",
        created_at=when,
        size=0,
        sha256="",
        server_version=18,
        schema_version=7,
        encrypted=False,
        row_counts={},
        checksums={},
    )
    (directory / (name + MANIFEST_SUFFIX)).write_text(manifest.to_json())


def test_prune_keeps_the_newest_of_each_recent_day_and_week(tmp_path: Path) -> None:
    """With 2 daily and 2 weekly kept, the newest backup of the two latest days and of the
    two latest ISO weeks survive; the rest and their manifests are deleted."""
    start = dt.datetime(2026, 3, 2, 12, tzinfo=dt.UTC)  # a Monday
    times = [start + dt.timedelta(days=d, hours=h) for d in (0, 7, 8, 9) for h in (0, 1)]
    for when in times:
        _fake(tmp_path, when)
    store = BackupStore(tmp_path, url="postgresql:///unused")
    deleted = store.prune(keep_daily=2, keep_weekly=2)
    kept = sorted(m.created_at for m in store.backups())
    assert kept == [times[1], times[5], times[7]]
    assert len(deleted) == 5
    assert len(list(tmp_path.iterdir())) == 6


def test_prune_refuses_to_delete_everything(tmp_path: Path) -> None:
    """Keeping no daily and no weekly backup is rejected before anything is deleted."""
    with pytest.raises(ValueError, match="both 0"):
        BackupStore(tmp_path, url="postgresql:///unused").prune(keep_daily=0, keep_weekly=0)


def run_backup_cli(argv: list[str], environ: dict[str, str]) -> int:
    """Run ``codeant backup ARGV`` in-process, as the entry point would."""
    parser = argparse.ArgumentParser(prog="codeant backup")
    BACKUP.add_arguments(parser)
    args = parser.parse_args(argv)
    context = Context(settings=Settings.from_env(environ), container_factory=build_container)

    async def run() -> int:
        try:
            return await BACKUP.run(args, context)
        finally:
            await context.close()

    return asyncio.run(run())


def test_the_cli_creates_lists_verifies_and_prunes(
    database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``codeant backup`` creates an encrypted backup, lists it as JSON, verifies it OK with
    the key, and prune keeps the newest one."""
    config = tmp_path / "empty.toml"
    config.write_text("")
    key_file = tmp_path / "key"
    key_file.write_text(secrets.token_hex(32))
    environ = {
        "HOME": str(tmp_path),
        "CODEANT_CONFIG": str(config),
        "CODEANT_DATABASE_URL": database,
        "CODEANT_DATA_DIR": str(tmp_path / "data"),
    }
    assert run_backup_cli(["create", "--encrypt-key-file", str(key_file)], environ) == 0
    assert run_backup_cli(["create", "--encrypt-key-file", str(key_file)], environ) == 0
    capsys.readouterr()
    assert run_backup_cli(["list", "--json"], environ) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [b["encrypted"] for b in listed] == [True, True]
    assert run_backup_cli(["verify", "--latest", "--key-file", str(key_file)], environ) == 0
    assert capsys.readouterr().out == f"{listed[0]['file'].split('.')[0]}: OK\n"
    assert run_backup_cli(["verify"], environ) == 1
    assert "is encrypted: a key is needed" in capsys.readouterr().out
    assert run_backup_cli(["prune", "--keep-daily", "1", "--keep-weekly", "0"], environ) == 0
    assert len(BackupStore(tmp_path / "data" / "backups", url=database).backups()) == 1
