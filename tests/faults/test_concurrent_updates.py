"""Concurrent units on one aggregate: updates queue on the project's row lock (and
``with_retry`` covers any conflict left) until every one has landed, each exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest

from adapters.postgres import MigrationRunner, PostgresUnitOfWork
from adapters.postgres.pool import PoolSettings, open_pool
from application import create_project, register_organization, update_project, with_retry
from tests.servers import scratch_database

_UPDATES = 20
_EVENTS = (
    "SELECT payload->>'changed' FROM outbox_events"
    " WHERE event_type = 'ProjectUpdated' AND payload->>'project_id' = %s"
)


@pytest.fixture
def database(postgres_server_url: str) -> Iterator[str]:
    with scratch_database(postgres_server_url, prefix="codeant_acid") as url:
        MigrationRunner(url).upgrade()
        yield url


async def test_concurrent_updates_of_one_project_all_land_through_retries(database: str) -> None:
    """Twenty concurrent renames of one project all succeed under with_retry: each wrote
    its own ProjectUpdated event, and the final name is one of theirs."""
    async with open_pool(database, PoolSettings(min_size=5, max_size=5)) as pool:
        organization = await register_organization(
            PostgresUnitOfWork(pool, system=True), name="Acme", slug="acme"
        )
        project = await create_project(
            PostgresUnitOfWork(pool, system=True),
            organization.id,
            name="P",
            slug="p",
            repository_url="x",
        )

        async def rename(i: int) -> None:
            await with_retry(
                lambda: update_project(
                    PostgresUnitOfWork(pool, system=True), project.id, name=f"Name {i}"
                ),
                attempts=50,
            )

        await asyncio.gather(*(rename(i) for i in range(_UPDATES)))
    with psycopg.connect(database) as conn:
        events = conn.execute(_EVENTS, (str(project.id),)).fetchall()
        row = conn.execute("SELECT name FROM projects WHERE id = %s", (project.id,)).fetchone()
    assert len(events) == _UPDATES
    assert row is not None and row[0] in {f"Name {i}" for i in range(_UPDATES)}
