"""The PostgreSQL unit of work and repositories, checked with raw SQL rather than through
the adapter under test."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import attrs
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from adapters.postgres import MigrationRunner, PostgresUnitOfWork, open_pool
from adapters.postgres.pool import PoolSettings
from domain.analysis import AnalysisJob, AnalysisResult, CodeMetric
from domain.enums import Category, JobStatus, MetricType, Severity
from domain.events import ProjectCreated
from domain.files import FileIndex
from domain.ids import RuleId
from domain.organizations import Organization
from domain.projects import Project, Repository
from domain.values import SourceLocation
from ports.errors import (
    ConcurrencyError,
    DuplicateError,
    NotFoundError,
    PersistenceError,
    TransactionAbortedError,
    UnavailableError,
)
from tests.servers import scratch_database


@pytest.fixture
def database(postgres_server_url: str) -> Iterator[str]:
    with scratch_database(postgres_server_url, prefix="codeant_uow") as url:
        MigrationRunner(url).upgrade()
        yield url


@pytest.fixture
async def pool(database: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    async with open_pool(database) as pool:
        yield pool


def sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params or None).fetchall()


def org(slug: str = "acme") -> Organization:
    return Organization(name=slug.title(), slug=slug)


async def test_without_commit_nothing_is_written(
    pool: AsyncConnectionPool[Any], database: str
) -> None:
    """Leaving the block without commit rolls back: the row never reaches the table."""
    async with PostgresUnitOfWork(pool, system=True) as uow:
        await uow.organizations.create(org())
    assert sql(database, "SELECT count(*) FROM organizations") == [(0,)]


async def test_an_exception_rolls_back_every_write(
    pool: AsyncConnectionPool[Any], database: str
) -> None:
    """An exception inside the block discards all writes of the unit, not just the last."""
    with pytest.raises(RuntimeError):
        async with PostgresUnitOfWork(pool, system=True) as uow:
            o = await uow.organizations.create(org())
            await uow.projects.create(
                Project(organization_id=o.id, name="P", slug="p", repository_url="u")
            )
            raise RuntimeError("boom")
    assert sql(database, "SELECT count(*) FROM organizations") == [(0,)]
    assert sql(database, "SELECT count(*) FROM projects") == [(0,)]


async def test_commit_writes_rows_and_outbox_together(
    pool: AsyncConnectionPool[Any], database: str
) -> None:
    """A commit stores the rows and the unit's events in the outbox table."""
    async with PostgresUnitOfWork(pool, system=True) as uow:
        o = await uow.organizations.create(org())
        p = await uow.projects.create(
            Project(organization_id=o.id, name="P", slug="p", repository_url="u")
        )
        uow.add_event(ProjectCreated(project_id=p.id, organization_id=o.id))
        await uow.commit()
    assert sql(database, "SELECT slug FROM projects") == [("p",)]
    rows = sql(database, "SELECT event_type, payload->>'project_id' FROM outbox_events")
    assert rows == [("ProjectCreated", str(p.id))]


async def test_a_failed_commit_writes_neither_rows_nor_events(
    pool: AsyncConnectionPool[Any], database: str
) -> None:
    """When the commit fails (here a duplicate slug committed meanwhile), no row and no
    event of the unit remain."""
    async with PostgresUnitOfWork(pool, system=True) as first:
        await first.organizations.create(org())
        await first.commit()
    with pytest.raises(DuplicateError) as caught:
        async with PostgresUnitOfWork(pool, system=True) as uow:
            o = await uow.organizations.create(org("other"))
            uow.add_event(ProjectCreated(project_id=o.id, organization_id=o.id))  # type: ignore[arg-type]
            await uow.organizations.create(org())
            await uow.commit()
    assert caught.value.key == "slug"
    assert sql(database, "SELECT slug FROM organizations") == [("acme",)]
    assert sql(database, "SELECT count(*) FROM outbox_events") == [(0,)]


async def test_uncommitted_changes_are_invisible_to_another_unit(
    pool: AsyncConnectionPool[Any],
) -> None:
    """A concurrent unit does not see another's uncommitted insert, and sees it after."""
    async with (
        PostgresUnitOfWork(pool, system=True) as writer,
        PostgresUnitOfWork(pool, system=True) as reader,
    ):
        o = await writer.organizations.create(org())
        assert await reader.organizations.find_by_id(o.id) is None
        await writer.commit()
        assert await reader.organizations.find_by_id(o.id) is not None


async def test_concurrent_updates_of_one_row_lose_nothing(
    pool: AsyncConnectionPool[Any], database: str
) -> None:
    """Two units update the same project from the same read: the second waits for the
    first, then fails with ConcurrencyError instead of overwriting it."""
    async with PostgresUnitOfWork(pool, system=True) as uow:
        o = await uow.organizations.create(org())
        p = await uow.projects.create(
            Project(organization_id=o.id, name="P", slug="p", repository_url="u")
        )
        await uow.commit()
    async with (
        PostgresUnitOfWork(pool, system=True) as a,
        PostgresUnitOfWork(pool, system=True) as b,
    ):
        pa = await a.projects.find_by_id(p.id)
        pb = await b.projects.find_by_id(p.id)
        assert pa is not None and pb is not None
        pa.name = "from a"
        pb.name = "from b"
        await a.projects.update(pa)
        blocked = asyncio.create_task(b.projects.update(pb))
        await asyncio.sleep(0.2)
        assert not blocked.done()  # waiting on a's row lock
        await a.commit()
        with pytest.raises(ConcurrencyError):
            await blocked
    assert sql(database, "SELECT name FROM projects") == [("from a",)]


async def test_foreign_key_violation_names_the_missing_parent(
    pool: AsyncConnectionPool[Any],
) -> None:
    """A project of an unknown organization raises NotFoundError naming the organization."""
    missing = org()
    async with PostgresUnitOfWork(pool, system=True) as uow:
        with pytest.raises(NotFoundError) as caught:
            await uow.projects.create(
                Project(organization_id=missing.id, name="P", slug="p", repository_url="u")
            )
    assert caught.value.entity == "organization"
    assert str(missing.id) in str(caught.value.key)


async def test_bulk_paths_write_every_row(pool: AsyncConnectionPool[Any], database: str) -> None:
    """A snapshot of 500 files, 500 results and 500 metrics land in one unit, verified by
    counting the tables."""
    now = dt.datetime.now(dt.UTC)
    async with PostgresUnitOfWork(pool, system=True) as uow:
        o = await uow.organizations.create(org())
        p = await uow.projects.create(
            Project(organization_id=o.id, name="P", slug="p", repository_url="u")
        )
        r = await uow.repositories.create(
            Repository(project_id=p.id, local_path="/r", remote_url="", default_branch="main")
        )
        files = [
            FileIndex(
                repository_id=r.id, relative_path=f"src/m{i}.py", absolute_path=f"/r/src/m{i}.py",
                size_bytes=i, file_hash=hashlib.sha256(str(i).encode()).hexdigest(),
                last_modified=now,
            )
            for i in range(500)
        ]  # fmt: skip
        outcome = await uow.files.upsert_snapshot(r.id, files)
        job = AnalysisJob(project_id=p.id, status=JobStatus.PENDING)
        job = await uow.analysis.create_job(job)
        await uow.analysis.create_results(
            [
                AnalysisResult(
                    job_id=job.id, file_id=f.id, rule_id=RuleId("long-function"),
                    severity=Severity.LOW, category=Category.MAINTAINABILITY, title="t",
                    description="d",
                    location=SourceLocation(file_path=f.relative_path, line_start=1, line_end=2),
                    confidence=0.5,
                )
                for f in files
            ]
        )  # fmt: skip
        await uow.analysis.create_metrics(
            [
                CodeMetric(
                    file_id=f.id, job_id=job.id, metric_type=MetricType.SIZE,
                    metric_name="loc", value=float(i), threshold_max=100.0,
                )
                for i, f in enumerate(files)
            ]
        )  # fmt: skip
        await uow.commit()
    assert len(outcome.added) == 500
    assert sql(database, "SELECT count(*) FROM file_index") == [(500,)]
    assert sql(database, "SELECT count(*), sum(line_end) FROM analysis_results") == [(500, 1000)]
    assert sql(database, "SELECT count(*) FILTER (WHERE is_violation) FROM code_metrics") == [
        (399,)
    ]


async def test_an_unreachable_server_is_unavailable() -> None:
    """Opening a pool on a port where nothing listens raises UnavailableError."""
    from adapters.postgres import PoolSettings

    settings = PoolSettings(timeout=1.0, connect_timeout=1)
    with pytest.raises(UnavailableError):
        async with open_pool("postgresql://postgres@127.0.0.1:1/none", settings):
            pass


async def two_projects(pool: AsyncConnectionPool[Any]) -> tuple[Project, Project]:
    async with PostgresUnitOfWork(pool, system=True) as uow:
        o = await uow.organizations.create(org())
        first = await uow.projects.create(
            Project(organization_id=o.id, name="One", slug="one", repository_url="u")
        )
        second = await uow.projects.create(
            Project(organization_id=o.id, name="Two", slug="two", repository_url="u")
        )
        await uow.commit()
    return first, second


async def test_a_deadlock_becomes_a_concurrency_error(
    pool: AsyncConnectionPool[Any], database: str
) -> None:
    """Two units locking two rows in opposite orders deadlock; PostgreSQL aborts one,
    which surfaces as ConcurrencyError, and the other commits."""
    one, two = await two_projects(pool)

    async def rename(first: Project, second: Project, label: str) -> str:
        async with PostgresUnitOfWork(pool, system=True) as uow:
            a = await uow.projects.find_by_id(first.id)
            b = await uow.projects.find_by_id(second.id)
            assert a is not None and b is not None
            a.description = label
            await uow.projects.update(a)
            await asyncio.sleep(0.2)  # both now hold their first row
            b.description = label
            await uow.projects.update(b)
            await uow.commit()
            return label

    results = await asyncio.gather(
        rename(one, two, "left"), rename(two, one, "right"), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    winners = [r for r in results if isinstance(r, str)]
    assert len(errors) == 1 and isinstance(errors[0], ConcurrencyError), results
    assert len(winners) == 1
    assert sql(database, "SELECT DISTINCT description FROM projects") == [(winners[0],)]


async def test_a_lost_connection_is_unavailable_and_the_pool_recovers(
    pool: AsyncConnectionPool[Any], database: str
) -> None:
    """When the server ends a unit's connection, its next statement raises
    UnavailableError; the next unit gets a fresh connection and works."""
    async with PostgresUnitOfWork(pool, system=True) as uow:
        await uow.organizations.create(org())
        sql(
            database,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'codeant'",
        )
        with pytest.raises(UnavailableError):
            await uow.organizations.find_by_slug("acme")
    async with PostgresUnitOfWork(pool, system=True) as uow:
        await uow.organizations.create(org("after"))
        await uow.commit()
    assert sql(database, "SELECT slug FROM organizations") == [("after",)]


async def test_commit_after_a_failed_statement_is_refused(
    pool: AsyncConnectionPool[Any], database: str
) -> None:
    """Committing a unit whose transaction a failed statement aborted raises
    TransactionAbortedError instead of silently rolling back."""
    async with PostgresUnitOfWork(pool, system=True) as uow:
        await uow.organizations.create(org())
        await uow.commit()
    async with PostgresUnitOfWork(pool, system=True) as uow:
        await uow.organizations.create(org("fresh"))
        with pytest.raises(DuplicateError):
            await uow.organizations.create(org())
        with pytest.raises(TransactionAbortedError):
            await uow.commit()
    assert sql(database, "SELECT slug FROM organizations") == [("acme",)]


async def test_a_connection_back_from_a_unit_keeps_transactions_for_others(
    pool: Any, database: str
) -> None:
    """A unit runs its BEGIN itself in autocommit mode; the connection it gives back is in
    the driver's transaction mode again, so another user's block of two writes is still
    all or nothing (whether the unit committed, rolled back, or failed a statement)."""
    async with PostgresUnitOfWork(pool, system=True) as uow:
        await uow.organizations.create(org("first"))
        await uow.commit()
    async with PostgresUnitOfWork(pool, system=True) as uow:
        await uow.organizations.create(org("second"))
    with pytest.raises(DuplicateError):
        async with PostgresUnitOfWork(pool, system=True) as uow:
            await uow.organizations.create(org("first"))
    connections = [await pool.getconn() for _ in range(pool.max_size)]  # the units' too
    try:
        for conn in connections:
            await conn.execute("CREATE TEMPORARY TABLE scratch (n int)")
            await conn.rollback()
            found = await (await conn.execute("SELECT to_regclass('pg_temp.scratch')")).fetchone()
            assert found == {"to_regclass": None}
            await conn.rollback()
    finally:
        for conn in connections:
            await pool.putconn(conn)
    assert sql(database, "SELECT slug FROM organizations") == [("first",)]


async def test_units_that_only_read_keep_the_drivers_prepared_statements(database: str) -> None:
    """A unit left without commit rolls back, yet the driver keeps its prepared statements
    (it would forget them on a ROLLBACK it sees): a lookup repeated in read-only units is
    prepared once, not parsed and planned in every unit."""
    async with open_pool(database, PoolSettings(min_size=1, max_size=1)) as pool:
        async with PostgresUnitOfWork(pool, system=True) as uow:
            acme = await uow.organizations.create(org())
            await uow.commit()
        for _ in range(8):  # past the driver's threshold of five executions
            async with PostgresUnitOfWork(pool, system=True) as uow:
                assert await uow.organizations.find_by_id(acme.id) is not None
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE %s",
                ("%FROM organizations%",),
            )
            assert await cur.fetchone() == {"n": 1}
        async with PostgresUnitOfWork(pool, system=True) as uow:  # writes still roll back
            await uow.organizations.create(org("beta"))
    assert sql(database, "SELECT slug FROM organizations") == [("acme",)]


def _round_trips(trace: str) -> list[str]:
    """The client's messages of a libpq trace, one string per round trip (each ends in a
    Sync of the extended protocol or is one simple Query)."""
    trips: list[str] = []
    current: list[str] = []
    for line in trace.splitlines():
        direction, _, message = line.partition("\t")
        if direction != "F":
            continue
        current.append(message)
        if "\tSync" in message or "\tQuery" in message:
            trips.append("\n".join(current))
            current = []
    if current:
        trips.append("\n".join(current))
    return trips


async def _traced(pool: AsyncConnectionPool[Any], log: Any, units: Any) -> list[str]:
    """The round trips (see :func:`_round_trips`) of ``units()`` on the pool's one
    connection, the pool's own check of it included."""
    with log.open("w") as out:
        conn = await pool.getconn()
        conn.pgconn.trace(out.fileno())
        conn.pgconn.set_trace_flags(
            psycopg.pq.Trace.SUPPRESS_TIMESTAMPS | psycopg.pq.Trace.REGRESS_MODE
        )
        await pool.putconn(conn)
        await units()
        conn = await pool.getconn()
        conn.pgconn.untrace()
        await pool.putconn(conn)
    return _round_trips(log.read_text())


@pytest.fixture
async def one_connection(
    database: str,
) -> AsyncIterator[tuple[AsyncConnectionPool[Any], Organization]]:
    """A pool of one connection (a trace of it sees every unit) and an organization."""
    async with open_pool(database, PoolSettings(min_size=1, max_size=1)) as pool:
        async with PostgresUnitOfWork(pool, system=True) as uow:
            acme = await uow.organizations.create(org())
            await uow.commit()
        yield pool, acme


async def test_a_units_first_statement_goes_with_its_begin_in_one_round_trip(
    database: str, one_connection: tuple[AsyncConnectionPool[Any], Organization], tmp_path: Any
) -> None:
    """BEGIN, the unit's scope and its first statement reach the server in one round trip,
    and a unit left without commit ends with one ROLLBACK; a unit that runs no statement
    sends nothing at all."""
    pool, acme = one_connection

    async def units() -> None:
        async with PostgresUnitOfWork(pool, organization_id=acme.id) as uow:
            pass
        async with PostgresUnitOfWork(pool, organization_id=acme.id) as uow:
            await uow.organizations.update(attrs.evolve(acme, name="Acme Two"))

    trips = await _traced(pool, tmp_path / "trace.txt", units)
    [first] = [trip for trip in trips if '"BEGIN"' in trip]
    assert "set_config" in first and "UPDATE organizations" in first
    assert trips.index(first) == len(trips) - 3  # then the ROLLBACK, then the last check
    assert sum("ROLLBACK" in trip for trip in trips) == 1  # the unit that ran nothing: none
    assert sql(database, "SELECT name FROM organizations") == [("Acme",)]


async def test_a_unit_that_only_looks_up_sends_one_round_trip_a_lookup_and_no_rollback(
    database: str, one_connection: tuple[AsyncConnectionPool[Any], Organization], tmp_path: Any
) -> None:
    """Lookups (find_by_...) before any other statement go with the unit's scope in one
    round trip each, without BEGIN: nothing is left to roll back. The transaction begins
    with the first statement that is not such a lookup, and a lookup after it runs in it."""
    pool, acme = one_connection

    async def lookups() -> None:
        async with PostgresUnitOfWork(pool, organization_id=acme.id) as uow:
            assert await uow.organizations.find_by_id(acme.id) == acme
            assert await uow.organizations.find_by_slug("acme") == acme

    trips = await _traced(pool, tmp_path / "lookups.txt", lookups)
    assert not any("BEGIN" in trip or "ROLLBACK" in trip for trip in trips)
    reads = [trip for trip in trips if "FROM organizations" in trip]
    assert len(reads) == 2 and all("set_config" in trip for trip in reads)

    async def then_a_write() -> None:
        async with PostgresUnitOfWork(pool, organization_id=acme.id) as uow:
            found = await uow.organizations.find_by_id(acme.id)
            assert found is not None
            await uow.organizations.update(attrs.evolve(found, name="Acme Two"))
            assert await uow.organizations.find_by_slug("acme") is not None

    trips = await _traced(pool, tmp_path / "write.txt", then_a_write)
    [begun] = [trip for trip in trips if '"BEGIN"' in trip]
    assert "UPDATE organizations" in begun and "FROM organizations" not in begun
    after = trips[trips.index(begun) + 1]
    assert "FROM organizations" in after and "set_config" not in after
    assert sum("ROLLBACK" in trip for trip in trips) == 1
    assert sql(database, "SELECT name FROM organizations") == [("Acme",)]  # rolled back


def _project(organization: Organization, slug: str) -> Project:
    return Project(organization_id=organization.id, name=slug, slug=slug, repository_url="u")


async def test_a_lookup_before_the_transaction_keeps_the_units_atomicity(
    database: str,
) -> None:
    """The unit's writes after a lookup that came first commit or roll back together, and
    a lookup that fails leaves the unit usable and the connection clean. (That such a
    lookup sees only what the unit's scope lets it see: test_row_level_security.)"""
    async with open_pool(database, PoolSettings(min_size=1, max_size=1)) as pool:
        async with PostgresUnitOfWork(pool, system=True) as uow:
            beta = await uow.organizations.create(org("beta"))
            theirs = await uow.projects.create(_project(beta, "theirs"))
            await uow.commit()
        async with PostgresUnitOfWork(pool, organization_id=beta.id) as uow:
            assert await uow.projects.find_by_id(theirs.id) == theirs
            await uow.projects.create(_project(beta, "two"))
            await uow.projects.create(_project(beta, "six"))
        async with PostgresUnitOfWork(pool, organization_id=beta.id) as uow:
            assert await uow.projects.find_by_slug(beta.id, "two") is None  # rolled back
            with pytest.raises(PersistenceError):  # not a uuid: the server refuses it
                await uow.projects.find_by_id("not a uuid")  # type: ignore[arg-type]
            assert await uow.projects.find_by_slug(beta.id, "theirs") == theirs
            await uow.projects.create(_project(beta, "two"))
            await uow.commit()
        async with pool.connection() as conn:
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert sql(database, "SELECT slug FROM projects ORDER BY slug") == [("theirs",), ("two",)]
