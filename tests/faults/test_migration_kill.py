"""A migration runner killed in the middle of a migration leaves the schema at the
previous version, and a rerun completes."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from adapters.postgres import MigrationRunner
from adapters.postgres.migrations import default_migrations_dir
from tests.servers import scratch_database

_SLOW = "CREATE TABLE slow_marker (id integer);\nSELECT pg_sleep(2);\n"
_RUNNER = (
    "import sys\nfrom pathlib import Path\n"
    "from adapters.postgres import MigrationRunner\n"
    "MigrationRunner(sys.argv[1], directory=Path(sys.argv[2])).upgrade()\n"
)
_SLEEPING = (
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    " AND query LIKE '%pg_sleep(2)%'"
)


@pytest.fixture
def database(postgres_server_url: str) -> Iterator[str]:
    with scratch_database(postgres_server_url, prefix="codeant_kill") as url:
        MigrationRunner(url).upgrade()
        yield url


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    directory = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), directory, ignore=shutil.ignore_patterns("*.py"))
    latest = MigrationRunner("postgresql:///unused", directory=directory).latest_version
    stem = f"{latest + 1:04d}_slow"
    (directory / f"{stem}.sql").write_text(_SLOW)
    (directory / f"{stem}.rollback.sql").write_text("DROP TABLE slow_marker;\n")
    return directory


def _count(url: str, query: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def test_a_runner_killed_mid_migration_leaves_the_previous_version(
    database: str, migrations: Path
) -> None:
    """SIGKILL while the new migration runs: the version stays the previous one, its table
    does not exist, and running the migrations again applies it."""
    runner = MigrationRunner(database, directory=migrations)
    before = runner.current_version()
    process = subprocess.Popen([sys.executable, "-c", _RUNNER, database, str(migrations)])
    try:
        deadline = time.monotonic() + 30
        while _count(database, _SLEEPING) == 0:
            assert process.poll() is None, "the runner ended before its slow migration"
            assert time.monotonic() < deadline, "the slow migration never started"
            time.sleep(0.05)
        process.kill()
    finally:
        process.wait(10)
    assert runner.current_version() == before
    assert _count(database, "SELECT count(*) FROM pg_class WHERE relname = 'slow_marker'") == 0
    assert runner.upgrade() == [f"{before + 1:04d}_slow"]
    assert runner.current_version() == before + 1
    assert _count(database, "SELECT count(*) FROM slow_marker") == 0
