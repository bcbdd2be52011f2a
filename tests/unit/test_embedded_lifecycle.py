"""The embedded server's bookkeeping without a server: leases, the postmaster file, the
socket directory, settings."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from adapters.config import ConfigError, Settings
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.embedded import EmbeddedPostgres, embedded_status, stop_embedded
from adapters.postgres.embedded_lifecycle import (
    Registry,
    make_dirs,
    poll_interval,
    read_postmaster,
    running_postmaster,
    socket_dir_for,
)

_HOLD_A_LEASE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from adapters.postgres.embedded_lifecycle import Registry
    registry = Registry(Path(sys.argv[1]))
    registry.prepare()
    with registry.locked():
        lease = registry.join()
    print("held", flush=True)
    sys.stdin.read()
    """
)


def _registry(tmp_path: Path) -> Registry:
    registry = Registry(tmp_path / "postgres")
    registry.prepare()
    return registry


def test_a_lease_counts_while_held_and_not_after_release(tmp_path: Path) -> None:
    """A lease taken by this process lists it as a user until it is released."""
    registry = _registry(tmp_path)
    with registry.locked():
        lease = registry.join()
    [user] = registry.users()
    assert user.pid == os.getpid()
    with registry.locked():
        lease.release()
        lease.release()  # idempotent
    assert registry.users() == []
    assert list(registry.users_dir.iterdir()) == []


def test_the_lease_of_a_killed_process_is_dead_and_pruned(tmp_path: Path) -> None:
    """A process killed with SIGKILL while holding a lease no longer counts as a user;
    pruning removes its file, while listing alone leaves it."""
    registry = _registry(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_A_LEASE, str(registry.pgdata)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    assert [u.pid for u in registry.users()] == [holder.pid]
    holder.send_signal(signal.SIGKILL)
    holder.wait(30)
    assert registry.users() == []
    assert len(list(registry.users_dir.iterdir())) == 1
    with registry.locked():
        assert registry.users(prune=True) == []
    assert list(registry.users_dir.iterdir()) == []


def test_the_idle_time_is_read_back_and_a_bad_file_gives_the_default(tmp_path: Path) -> None:
    """The idle time written by the latest user is what the supervisor reads; a missing
    or damaged file falls back to the default."""
    registry = _registry(tmp_path)
    assert registry.idle_timeout(300.0) == 300.0
    registry.write_idle_timeout(12.5)
    assert registry.idle_timeout(300.0) == 12.5
    registry.idle_file.write_text("soon\n")
    assert registry.idle_timeout(300.0) == 300.0
    registry.idle_file.write_text("-4\n")
    assert registry.idle_timeout(300.0) == 300.0


def test_no_supervisor_is_reported_when_none_holds_its_lock(tmp_path: Path) -> None:
    """A supervisor lock file left by a dead supervisor does not count as a live one."""
    registry = _registry(tmp_path)
    assert registry.supervisor_pid() is None
    registry.supervisor_lock.write_text("12345")
    assert registry.supervisor_pid() is None


def test_postmaster_pid_is_read_and_a_partial_or_stale_one_is_no_server(tmp_path: Path) -> None:
    """A complete postmaster.pid is parsed; a partial one is no server yet; a complete one
    whose socket accepts nothing (left by a crash) is not a running server."""
    pgdata = tmp_path / "postgres"
    pgdata.mkdir()
    assert read_postmaster(pgdata) is None
    lines = ["4242", str(pgdata), "1700000000", "5432", str(pgdata), "", "  123 456", "ready"]
    (pgdata / "postmaster.pid").write_text("\n".join(lines[:4]) + "\n")
    assert read_postmaster(pgdata) is None
    (pgdata / "postmaster.pid").write_text("\n".join(lines) + "\n")
    info = read_postmaster(pgdata)
    assert info is not None
    assert (info.pid, info.port, info.socket_dir, info.status) == (4242, 5432, pgdata, "ready")
    assert info.socket_path == pgdata / ".s.PGSQL.5432"
    assert running_postmaster(pgdata) is None
    status = embedded_status(pgdata)
    assert not status.running and status.pid is None


def test_stop_of_a_server_that_is_not_running_creates_nothing(tmp_path: Path) -> None:
    """Stopping (or asking the status of) a data directory that was never used reports
    the server down and leaves no file behind."""
    pgdata = tmp_path / "postgres"
    outcome = stop_embedded(pgdata)
    assert (outcome.stopped, outcome.was_running) == (False, False)
    assert not embedded_status(pgdata).running
    assert list(tmp_path.iterdir()) == []


def test_a_long_data_directory_gets_its_socket_in_the_temporary_directory(
    tmp_path: Path,
) -> None:
    """The socket goes in the data directory when its path fits a Unix socket name, else
    in a directory of the temporary directory named after the data directory."""
    assert socket_dir_for(tmp_path / "postgres") == tmp_path / "postgres"
    deep = tmp_path / ("d" * 120) / "postgres"
    elsewhere = socket_dir_for(deep)
    assert elsewhere != deep and elsewhere.name.startswith("codeant-pg-")
    assert socket_dir_for(deep) == elsewhere


def test_the_supervisor_polls_a_tenth_of_the_idle_time_within_bounds() -> None:
    """Polling stays between 0.5 s and 5 s, a tenth of the idle time in between."""
    assert poll_interval(0) == 0.5
    assert poll_interval(20) == 2.0
    assert poll_interval(3600) == 5.0


def test_make_dirs_sets_the_mode_of_what_it_creates_only(tmp_path: Path) -> None:
    """Directories created get the mode asked for; an existing one keeps its own."""
    existing = tmp_path / "existing"
    existing.mkdir(mode=0o700)
    existing.chmod(0o700)
    make_dirs(existing / "a" / "b", mode=0o711)
    assert existing.stat().st_mode & 0o777 == 0o700
    assert (existing / "a").stat().st_mode & 0o777 == 0o711
    assert (existing / "a" / "b").stat().st_mode & 0o777 == 0o711


@pytest.mark.parametrize("value", [-1, math.nan, 86401, "300", True, None])
def test_a_bad_idle_time_is_refused(tmp_path: Path, value: object) -> None:
    """The idle time must be a number of seconds from 0 to 86400, for the server and for
    the database that starts it."""
    with pytest.raises(ValueError, match="idle_timeout"):
        EmbeddedPostgres(tmp_path / "postgres", idle_timeout=value)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="idle_timeout"):
        PostgresDatabase(data_dir=tmp_path, idle_timeout=value)  # type: ignore[arg-type]


def test_the_idle_time_setting_is_read_and_checked(tmp_path: Path) -> None:
    """CODEANT_EMBEDDED_IDLE_TIMEOUT defaults to 300 s, takes 0, and a value out of range
    is refused naming the variable."""
    base = {"CODEANT_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(base, cwd=tmp_path).embedded_idle_timeout == 300
    zero = base | {"CODEANT_EMBEDDED_IDLE_TIMEOUT": "0"}
    assert Settings.from_env(zero, cwd=tmp_path).embedded_idle_timeout == 0
    with pytest.raises(ConfigError, match="CODEANT_EMBEDDED_IDLE_TIMEOUT"):
        Settings.from_env(base | {"CODEANT_EMBEDDED_IDLE_TIMEOUT": "-1"}, cwd=tmp_path)
