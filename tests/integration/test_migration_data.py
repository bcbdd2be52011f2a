"""Migrations carry existing data over: a database filled by the previous version answers
the same after the upgrade, and survives the rollback."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from adapters.postgres import PostgresUnitOfWork, open_pool
from adapters.postgres.analysis import HELD
from adapters.postgres.migrations import MigrationRunner
from domain.enums import FileChange
from domain.ids import FileId
from tests.servers import scratch_database


@pytest.fixture
def database(postgres_server_url: str) -> Iterator[str]:
    with scratch_database(postgres_server_url, prefix="codeant_migration_data") as url:
        yield url


def ids(*names: str) -> dict[str, uuid.UUID]:
    return {name: uuid.uuid4() for name in names}


def fill_version_8(url: str) -> dict[str, uuid.UUID]:
    """A project analysed twice the way version 8 stored it: the second job holds copies
    of the first one's results for the file it did not analyse again."""
    k = ids("org", "project", "repo", "a", "b", "job1", "job2")
    h = "0" * 64
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO organizations (id, name, slug) VALUES (%s, 'Acme', 'acme')", (k["org"],)
        )
        conn.execute(
            "INSERT INTO projects (id, organization_id, name, slug, repository_url)"
            " VALUES (%s, %s, 'App', 'app', 'file:///app')",
            (k["project"], k["org"]),
        )
        conn.execute(
            "INSERT INTO repositories (id, project_id, local_path, remote_url, default_branch)"
            " VALUES (%s, %s, '/app', '', 'main')",
            (k["repo"], k["project"]),
        )
        for name in ("a", "b"):
            conn.execute(
                "INSERT INTO file_index (id, repository_id, relative_path, absolute_path,"
                " size_bytes, file_hash, last_modified) VALUES (%s, %s, %s, %s, 1, %s, now())",
                (k[name], k["repo"], f"{name}.py", f"/app/{name}.py", h),
            )
        for job, at in (("job1", "2026-01-01"), ("job2", "2026-01-02")):
            conn.execute(
                "INSERT INTO analysis_jobs (id, project_id, job_type, status, created_at)"
                " VALUES (%s, %s, 'index', 'completed', %s)",
                (k[job], k["project"], at),
            )
        for job, file, title in (
            ("job1", "a", "issue in a"), ("job1", "b", "old issue in b"),
            ("job2", "a", "issue in a"), ("job2", "b", "new issue in b"),
        ):  # fmt: skip
            conn.execute(
                "INSERT INTO analysis_results (job_id, file_id, rule_id, severity, category,"
                " title, description) VALUES (%s, %s, 'r', 'low', 'style', %s, 'd')",
                (k[job], k[file], title),
            )
        conn.execute(
            "INSERT INTO code_metrics (file_id, job_id, metric_type, metric_name, value)"
            " VALUES (%s, %s, 'size', 'lines', 10)",
            (k["b"], k["job2"]),
        )
    return k


# What a job holds, by the adapter's own definition (HELD), read with the columns every
# version since 9 has: the repository itself reads the columns of the latest version.
HELD_TITLES = (
    HELD + "SELECT r.title FROM held JOIN analysis_results r"
    " ON r.job_id = held.job_id AND r.file_id = held.file_id WHERE held.change <> 'deleted'"
    " UNION ALL SELECT r.title FROM analysis_results r"
    " WHERE r.job_id = %(job_id)s AND r.file_id IS NULL"
)


async def results(url: str, job_id: uuid.UUID) -> list[str]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute(HELD_TITLES, {"job_id": job_id})
        return sorted(str(row[0]) for row in await cur.fetchall())


async def test_analysis_history_keeps_what_every_job_held(database: str) -> None:
    """Version 9 records that each job analysed the files it has results or metrics of, so
    each job still holds exactly its results; rolling back keeps them too."""
    runner = MigrationRunner(database)
    runner.upgrade(to=8)
    k = fill_version_8(database)

    runner.upgrade(to=9)

    assert await results(database, k["job1"]) == ["issue in a", "old issue in b"]
    assert await results(database, k["job2"]) == ["issue in a", "new issue in b"]
    async with open_pool(database) as pool, PostgresUnitOfWork(pool, system=True) as uow:
        history = await uow.files.history(FileId(k["b"]))
    assert [(e.job_id, e.change, e.relative_path) for e in history] == [
        (k["job1"], FileChange.ANALYSED, "b.py"),
        (k["job2"], FileChange.ANALYSED, "b.py"),
    ]

    runner.downgrade(to=8)
    with psycopg.connect(database) as conn:
        count = conn.execute("SELECT count(*) FROM analysis_results").fetchone()
    assert count == (4,)
    runner.upgrade(to=9)
    assert await results(database, k["job2"]) == ["issue in a", "new issue in b"]


ORGANIZATION_OWNED = (
    "repositories", "file_index", "file_history", "analysis_jobs", "analysis_results",
    "code_metrics",
)  # fmt: skip


async def test_every_row_gets_its_organization_and_the_trail_starts_empty(database: str) -> None:
    """Version 10 gives every existing row below a project its organization, records no
    entry for the rows it found, and keeps them all when rolled back."""
    runner = MigrationRunner(database)
    runner.upgrade(to=8)
    k = fill_version_8(database)
    runner.upgrade(to=9)

    runner.upgrade(to=10)

    with psycopg.connect(database) as conn:
        for table in ORGANIZATION_OWNED:
            owners = conn.execute(f"SELECT DISTINCT organization_id FROM {table}").fetchall()
            assert owners == [(k["org"],)], table
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == (0,)
    assert await results(database, k["job2"]) == ["issue in a", "new issue in b"]

    runner.downgrade(to=9)
    with psycopg.connect(database) as conn:
        count = conn.execute("SELECT count(*) FROM analysis_results").fetchone()
    assert count == (4,)
    runner.upgrade(to=10)
    assert await results(database, k["job1"]) == ["issue in a", "old issue in b"]
