"""A backup that cannot be written (full disk, read-only or forbidden directory) fails
with one clear error and leaves nothing that looks like a valid backup."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from adapters.backup import BackupError, BackupStore
from adapters.postgres import MigrationRunner
from tests.servers import scratch_database

# incompressible enough that the dump outgrows a 64 KiB file system
_FILL = (
    "INSERT INTO organizations (name, slug, description)"
    " SELECT 'Org ' || n, 'org-' || n,"
    " (SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 8))"
    " FROM generate_series(1, 2000) n"
)


@pytest.fixture
def database(postgres_server_url: str) -> Iterator[str]:
    with scratch_database(postgres_server_url, prefix="codeant_backup_fault") as url:
        MigrationRunner(url).upgrade()
        with psycopg.connect(url) as conn:
            conn.execute(_FILL)
        yield url


def _mount(directory: Path, options: str) -> None:
    directory.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "small"
    _mount(directory, "size=64k,mode=0700")
    try:
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=False)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "read-only"
    if os.geteuid() != 0:
        directory.mkdir(mode=0o500)
        yield directory
        return
    _mount(directory, "size=1m,ro")
    try:
        yield directory
    finally:
        subprocess.run(["umount", str(directory)], check=False)


def test_a_full_disk_fails_the_backup_and_leaves_no_file(database: str, full_disk: Path) -> None:
    """pg_dump running out of space gives a one-line error naming the cause; the directory
    keeps no dump, temporary file or manifest, and list shows nothing."""
    store = BackupStore(full_disk, url=database)
    with pytest.raises(BackupError, match="No space left on device") as raised:
        store.create()
    assert "\n" not in str(raised.value)
    assert list(full_disk.iterdir()) == []
    assert store.backups() == []


def test_an_unwritable_directory_fails_the_backup_clearly(database: str, read_only: Path) -> None:
    """A directory the backup cannot write into gives a one-line error naming it, and no
    backup appears."""
    store = BackupStore(read_only / "backups" if os.geteuid() != 0 else read_only, url=database)
    with pytest.raises(BackupError, match=f"cannot write the backup in {read_only}"):
        store.create()
    assert store.backups() == []
    assert list(read_only.iterdir()) == []
