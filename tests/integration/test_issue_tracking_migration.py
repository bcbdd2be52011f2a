"""Migration 0012 (issue tracking) carries the results stored so far over into issues, and
its rollback leaves the schema and the results as 0011 left them."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from adapters.postgres import PostgresUnitOfWork, open_pool
from adapters.postgres.migrations import MigrationRunner
from adapters.postgres.schema import read_schema
from domain.enums import IssueStatus, Resolution, Severity
from domain.ids import JobId, ProjectId
from domain.issues import Issue
from ports.pagination import PageRequest
from tests.servers import scratch_database

T = {n: dt.datetime(2026, 1, n, tzinfo=dt.UTC) for n in range(1, 5)}


@pytest.fixture
def database(postgres_server_url: str) -> Iterator[str]:
    with scratch_database(postgres_server_url, prefix="codeant_issue_migration") as url:
        yield url


def fill_version_11(url: str) -> dict[str, uuid.UUID]:
    """A project analysed four times the way version 11 stored it: on "main" a full
    analysis (job1), one of file a that saw file c deleted (job2) and a failed one (job4);
    on a detached HEAD one of file a (job3)."""
    k = {n: uuid.uuid4() for n in ("org", "project", "repo", "a", "b", "c")}
    jobs: dict[str, tuple[str | None, str, dt.datetime, list[tuple[str, str]]]] = {
        "job1": ("main", "completed", T[1], [("a", "added"), ("b", "added"), ("c", "added")]),
        "job2": ("main", "completed", T[2], [("a", "modified"), ("c", "deleted")]),
        "job3": (None, "completed", T[3], [("a", "analysed")]),
        "job4": ("main", "failed", T[4], [("a", "analysed")]),
    }
    results = [  # job, file, rule, title, line, severity
        ("job1", "a", "r1", "A", 3, "low"), ("job1", "a", "r1", "C", 7, "low"),
        ("job1", "b", "r1", "B", 1, "low"), ("job1", "c", "r1", "D", 2, "low"),
        ("job1", None, "r2", "F", None, "info"),
        ("job2", "a", "r1", "A", 3, "high"), ("job2", None, "r2", "G", None, "info"),
        ("job3", "a", "r1", "A", 3, "medium"),
        ("job4", "a", "r1", "Z", 9, "critical"),
    ]  # fmt: skip
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
        for name in ("a", "b", "c"):
            conn.execute(
                "INSERT INTO file_index (id, repository_id, relative_path, absolute_path,"
                " size_bytes, file_hash, last_modified) VALUES (%s, %s, %s, %s, 1, %s, now())",
                (k[name], k["repo"], f"{name}.py", f"/app/{name}.py", "0" * 64),
            )
        for job, (branch, status, created, history) in jobs.items():
            k[job] = uuid.uuid4()
            conn.execute(
                "INSERT INTO analysis_jobs (id, project_id, job_type, status, branch, created_at)"
                " VALUES (%s, %s, 'full', %s, %s, %s)",
                (k[job], k["project"], status, branch, created),
            )
            for file, change in history:
                conn.execute(
                    "INSERT INTO file_history (file_id, job_id, change, relative_path, created_at)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (k[file], k[job], change, f"{file}.py", created),
                )
        for job, found_in, rule, title, line, severity in results:
            conn.execute(
                "INSERT INTO analysis_results (job_id, file_id, rule_id, severity, category,"
                " title, description, line_start, line_end)"
                " VALUES (%s, %s, %s, %s, 'style', %s, %s, %s, %s)",
                (k[job], k[found_in] if found_in else None, rule, severity, title,
                 f"{title} in {job}", line, line),
            )  # fmt: skip
    return k


def audit_entries(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM audit_log) + (SELECT count(*) FROM audit_staging)"
        ).fetchone()
    assert row is not None
    return int(row[0])


async def carried_issues(url: str, k: dict[str, uuid.UUID]) -> dict[tuple[str, str], Issue]:
    async with open_pool(url) as pool, PostgresUnitOfWork(pool, system=True) as uow:
        page = await uow.issues.list(ProjectId(k["project"]), PageRequest(limit=100))
        return {(i.branch, i.title): i for i in page.items}


async def test_results_become_issues_open_while_the_branch_holds_them(database: str) -> None:
    """Each place (file, rule, title, line) of a branch's results becomes one issue: open
    when the branch's latest completed job holds such a result, else closed as fixed when
    the branch's latest job that held it was created; every result names its issue; no
    audit entry is written; the rollback leaves the 0011 schema and every result."""
    runner = MigrationRunner(database)
    runner.upgrade(to=11)
    k = fill_version_11(database)
    with psycopg.connect(database) as conn:
        schema_11 = read_schema(conn)
    audited = audit_entries(database)

    runner.upgrade(to=12)

    issues = await carried_issues(database, k)
    expected = {  # (branch, title): status, closed_at, first job, last job
        ("main", "A"): (IssueStatus.OPEN, None, "job1", "job2"),
        ("main", "B"): (IssueStatus.OPEN, None, "job1", "job1"),
        ("main", "C"): (IssueStatus.CLOSED, T[1], "job1", "job1"),
        ("main", "D"): (IssueStatus.CLOSED, T[1], "job1", "job1"),  # its file was deleted
        ("main", "F"): (IssueStatus.CLOSED, T[1], "job1", "job1"),
        ("main", "G"): (IssueStatus.OPEN, None, "job2", "job2"),
        ("main", "Z"): (IssueStatus.CLOSED, T[4], "job4", "job4"),  # no completed job held it
        ("", "A"): (IssueStatus.OPEN, None, "job3", "job3"),
    }
    assert set(issues) == set(expected)
    for key, (status, closed_at, first, last) in expected.items():
        found = issues[key]
        assert found.status is status, key
        assert found.resolution == (None if status is IssueStatus.OPEN else Resolution.FIXED), key
        assert found.closed_at == closed_at, key
        assert found.first_seen_job_id == k[first], key
        assert found.last_seen_job_id == k[last], key
    a_main = issues[("main", "A")]
    assert (a_main.path, a_main.line, a_main.file_id) == ("a.py", 3, k["a"])
    assert (a_main.first_seen_at, a_main.last_seen_at) == (T[1], T[2])
    assert a_main.severity is Severity.HIGH
    assert a_main.description == "A in job2"
    f_main = issues[("main", "F")]
    assert (f_main.path, f_main.line, f_main.file_id) == ("", None, None)

    async with open_pool(database) as pool, PostgresUnitOfWork(pool, system=True) as uow:
        for job in ("job1", "job2", "job3", "job4"):
            page = await uow.analysis.find_results_by_job(JobId(k[job]), PageRequest(limit=100))
            for result in page.items:
                if result.job_id != k[job]:
                    continue  # held from an earlier job: checked with that job
                branch = "" if job == "job3" else "main"
                assert result.issue_id == issues[(branch, result.title)].id, (job, result.title)
                assert result.line_hash == ""
    assert audit_entries(database) == audited

    runner.downgrade(to=11)

    with psycopg.connect(database) as conn:
        assert read_schema(conn) == schema_11
        assert conn.execute("SELECT count(*) FROM analysis_results").fetchone() == (9,)
    runner.upgrade(to=12)
    assert set(await carried_issues(database, k)) == set(expected)


async def test_an_empty_database_upgrades_with_no_issue(database: str) -> None:
    """With no result stored, the upgrade makes no issue and rolls back cleanly."""
    runner = MigrationRunner(database)
    runner.upgrade(to=11)
    with psycopg.connect(database) as conn:
        schema_11 = read_schema(conn)

    runner.upgrade(to=12)

    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT count(*) FROM issues").fetchone() == (0,)
    runner.downgrade(to=11)
    with psycopg.connect(database) as conn:
        assert read_schema(conn) == schema_11
