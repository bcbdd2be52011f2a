"""Point-in-time recovery for a server whose data directory we own (the embedded one).

WAL archiving copies every finished WAL segment to an archive directory; a base backup
(``pg_basebackup``) is a copy of the data directory. :func:`restore_to_time` builds a new
data directory from the base backup, replays the archive up to a moment and promotes it:
what was committed before that moment is there, what was committed after is not.

When we run as root the server runs as the owner of its data directory (the embedded
wheel creates a dedicated user), so the programs that touch a data directory run as that
user and the directories they need are handed over to it.
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import shlex
import shutil
import time
from pathlib import Path

import psycopg
from psycopg import sql

from adapters.backup.tools import BackupError, client_binary, connect, login, run, server_major
from adapters.postgres.urls import as_url

__all__ = ["ArchivedCluster", "base_backup", "enable_archiving", "restore_to_time", "switch_wal"]

_ARCHIVE_SETTINGS = (
    ("wal_level", "replica"),
    ("archive_mode", "on"),
)
_SWITCH = "SELECT pg_walfile_name(pg_switch_wal())"
_LAST_ARCHIVED = "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver"
_IN_RECOVERY = "SELECT pg_is_in_recovery()"


def _owner(path: Path) -> int | None:
    """The user id to run server programs as: the owner of ``path`` when we are root and
    it is someone else, else None (ourselves)."""
    uid = path.stat().st_uid
    return uid if os.geteuid() == 0 and uid != 0 else None


def _hand_over(path: Path, uid: int | None) -> None:
    """Give ``path`` and everything under it to the user ``uid`` (if any)."""
    if uid is None:
        return
    gid = pwd.getpwuid(uid).pw_gid
    for root, dirs, files in os.walk(path):
        for entry in (root, *(os.path.join(root, n) for n in dirs + files)):
            os.chown(entry, uid, gid)


class ArchivedCluster:
    """A PostgreSQL data directory and the socket directory its server listens on, driven
    with ``pg_ctl`` of the server's major version."""

    def __init__(self, data_dir: Path, *, socket_dir: Path, major: int) -> None:
        self.data_dir = Path(data_dir)
        self.socket_dir = Path(socket_dir)
        self.major = major

    def url(self, database: str = "postgres") -> str:
        conninfo = psycopg.conninfo.make_conninfo(
            host=str(self.socket_dir), user="postgres", dbname=database
        )
        return as_url(conninfo)

    def _pg_ctl(self, *args: str, what: str) -> None:
        pg_ctl = client_binary("pg_ctl", self.major)
        command = [str(pg_ctl), "-D", str(self.data_dir), *args]
        run(command, what=what, user=_owner(self.data_dir), timeout=120)

    def start(self) -> None:
        """Start the server on the socket directory only (no TCP) and wait until it accepts
        connections."""
        options = f"-h '' -k {shlex.quote(str(self.socket_dir))}"
        log = self.data_dir / "log"
        try:
            self._pg_ctl("-w", "-t", "120", "-o", options, "-l", str(log), "start", what="start")
        except BackupError as exc:
            raise BackupError(f"{exc} (the server's log: {log})") from exc

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-w", "-m", mode, "stop", what="pg_ctl stop")

    def restart(self) -> None:
        """Restart with the options of the last start (settings that need a restart apply)."""
        log = str(self.data_dir / "log")
        self._pg_ctl("-w", "-t", "120", "-m", "fast", "-l", log, "restart", what="pg_ctl restart")


def enable_archiving(url: str, archive_dir: Path) -> None:
    """Configure the server at ``url`` to archive WAL into ``archive_dir`` (created and
    given to the server's user). Takes effect at the next restart."""
    archive = Path(archive_dir).resolve()
    archive.mkdir(parents=True, exist_ok=True)
    archive.chmod(0o700)
    target = shlex.quote(str(archive)) + "/%f"
    command = f"test ! -f {target} && cp %p {target}"
    with connect(url) as conn:
        row = conn.execute("SHOW data_directory").fetchone()
        assert row is not None
        _hand_over(archive, _owner(Path(row[0])))
        for name, value in (*_ARCHIVE_SETTINGS, ("archive_command", command)):
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value))
            )


def switch_wal(url: str, *, timeout: float = 60.0) -> None:
    """Close the current WAL segment and wait until the archiver has copied it."""
    with connect(url) as conn:
        row = conn.execute(_SWITCH).fetchone()
        assert row is not None
        segment = str(row[0])
        deadline = time.monotonic() + timeout
        while True:
            done = conn.execute(_LAST_ARCHIVED).fetchone()
            if done is not None and str(done[0]) >= segment:
                return
            if time.monotonic() > deadline:
                raise BackupError(f"WAL segment {segment} was not archived within {timeout} s")
            time.sleep(0.1)


def base_backup(url: str, target: Path) -> Path:
    """Copy the data directory of the server at ``url`` into the new directory ``target``
    (plain format, with the WAL needed to make it consistent)."""
    pg_basebackup = client_binary("pg_basebackup", server_major(url))
    if target.exists():
        raise BackupError(f"base backup directory {target} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)
    with login(url) as auth:
        command = [str(pg_basebackup), f"--dbname={auth.url}", "-D", str(target), "-Fp"]
        run(
            [*command, "--wal-method=stream", "--checkpoint=fast"],
            what="pg_basebackup",
            env=auth.env,
        )
    return target


def restore_to_time(
    base: Path,
    archive_dir: Path,
    moment: dt.datetime,
    *,
    data_dir: Path,
    socket_dir: Path,
    timeout: float = 120.0,
) -> ArchivedCluster:
    """Build ``data_dir`` from the base backup ``base``, replay the WAL archive up to
    ``moment`` (timezone-aware), promote the result and return it running on
    ``socket_dir``. The new server does not archive (it would mix its WAL with the
    original's)."""
    if moment.tzinfo is None:
        raise ValueError(f"moment must be timezone-aware (got {moment.isoformat()})")
    if data_dir.exists():
        raise BackupError(f"recovery data directory {data_dir} already exists")
    version = (base / "PG_VERSION").read_text(encoding="utf-8").strip()
    archive = Path(archive_dir).resolve()
    shutil.copytree(base, data_dir)
    data_dir.chmod(0o700)
    (data_dir / "recovery.signal").touch()
    source = shlex.quote(str(archive)) + "/%f"
    settings = {
        "restore_command": f"cp {source} %p",
        "recovery_target_time": moment.isoformat(sep=" "),
        "recovery_target_action": "promote",
        "archive_mode": "off",
    }
    with (data_dir / "postgresql.auto.conf").open("a", encoding="utf-8") as conf:
        for name, value in settings.items():
            quoted = value.replace("'", "''")
            conf.write(f"{name} = '{quoted}'\n")
    socket_dir.mkdir(parents=True, exist_ok=True)
    uid = _owner(archive)
    _hand_over(data_dir, uid)
    _hand_over(socket_dir, uid)
    cluster = ArchivedCluster(data_dir, socket_dir=socket_dir, major=int(version))
    cluster.start()
    deadline = time.monotonic() + timeout
    try:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            while True:
                row = conn.execute(_IN_RECOVERY).fetchone()
                if row is not None and not row[0]:
                    return cluster
                if time.monotonic() > deadline:
                    raise BackupError(
                        f"recovery to {moment.isoformat()} did not end in {timeout} s"
                    )
                time.sleep(0.1)
    except psycopg.OperationalError as exc:
        # e.g. the archive ends before the target: the server stops at the end of recovery
        raise BackupError(
            f"recovery to {moment.isoformat()} failed: {exc} (the server's log: {data_dir / 'log'})"
        ) from exc
