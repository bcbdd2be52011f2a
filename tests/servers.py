"""Servers for the tests, chosen in this order: an explicit environment variable, then a
container when a Docker daemon answers, then a server the test run starts itself.

Each function returns a URL and a way to stop what it started (a no-op for servers it
did not start); :func:`skip_reason` tells why a server cannot be had, for a clean skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
from psycopg import sql

from adapters.postgres.urls import as_url

__all__ = [
    "docker_available",
    "postgres_server",
    "redis_server",
    "scratch_database",
    "server_directory",
    "stop_leftover_servers",
]

Stop = Callable[[], None]


def docker_available() -> bool:
    """Whether a Docker daemon answers (testcontainers needs one)."""
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def postgres_server(env: str = "CODEANT_TEST_DATABASE_URL") -> tuple[str, Stop]:
    """A PostgreSQL server URL: ``$env``, else a pgvector container, else an embedded
    PostgreSQL 18 (with pgvector) in a temporary directory."""
    url = os.environ.get(env)
    if url:
        return url, lambda: None
    if docker_available():
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("pgvector/pgvector:pg17", driver=None)
        container.start()
        return container.get_connection_url(), container.stop
    from adapters.postgres.embedded import EmbeddedPostgres, stop_embedded

    directory = server_directory("codeant-test-pg-")
    # its only user: with no idle time, the server stops when the run leaves it
    server = EmbeddedPostgres(directory / "data", idle_timeout=0, announce=None)
    try:
        server.start()
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise

    def stop() -> None:
        server.stop()
        stop_embedded(directory / "data")  # if a test left a lease behind
        shutil.rmtree(directory, ignore_errors=True)

    return server.url(), stop


_SERVER_DIRECTORIES: list[Path] = []


def server_directory(prefix: str) -> Path:
    """A new temporary directory for an embedded server's data directory. Run as root,
    the server runs as another operating-system user, which must be able to enter it
    (mkdtemp makes it 0700 and the server never widens it): it gets 0711."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        directory.chmod(0o711)
    _SERVER_DIRECTORIES.append(directory)
    return directory


def stop_leftover_servers() -> list[Path]:
    """Stop every embedded server still running in a directory :func:`server_directory`
    made (a test that failed before its clean-up); returns their data directories."""
    from adapters.postgres.embedded import stop_embedded

    stopped = []
    for directory in _SERVER_DIRECTORIES:
        for run_dir in directory.glob("**/*.run"):
            pgdata = run_dir.with_name(run_dir.name.removesuffix(".run"))
            with contextlib.suppress(Exception):
                if stop_embedded(pgdata, wait=10).stopped:
                    stopped.append(pgdata)
    return stopped


@contextlib.contextmanager
def scratch_database(server_url: str, prefix: str = "codeant_test") -> Iterator[str]:
    """A new, empty database on the server of ``server_url`` for the block; dropped after."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield as_url(psycopg.conninfo.make_conninfo(server_url, dbname=name))
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def redis_server(env: str = "CODEANT_TEST_REDIS_URL") -> tuple[str, Stop]:
    """A Redis server URL: ``$env``, else a container, else a ``redis-server`` process on a
    free port of the loopback interface."""
    url = os.environ.get(env)
    if url:
        return url, lambda: None
    if docker_available():
        from testcontainers.redis import RedisContainer

        container = RedisContainer("redis:7")
        container.start()
        host = container.get_container_host_ip()
        port = container.get_exposed_port(6379)
        return f"redis://{host}:{port}/0", container.stop
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("no Redis: set CODEANT_TEST_REDIS_URL or install redis-server")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            break
        time.sleep(0.05)

    def stop() -> None:
        process.terminate()
        process.wait(10)

    return f"redis://127.0.0.1:{port}/0", stop
