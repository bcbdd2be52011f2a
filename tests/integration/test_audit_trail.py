"""The audit trail on PostgreSQL: what the triggers record for changes made outside the
adapters, tampering that verification finds, and the actor of pooled connections."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from adapters.postgres import MigrationRunner, PostgresUnitOfWork, open_pool
from adapters.postgres.pool import PoolSettings
from domain.organizations import Organization
from domain.projects import Project
from tests.servers import scratch_database


@pytest.fixture
def database(postgres_server_url: str) -> Iterator[str]:
    with scratch_database(postgres_server_url, prefix="codeant_audit") as url:
        MigrationRunner(url).upgrade()
        yield url


@pytest.fixture
async def pool(database: str) -> AsyncIterator[AsyncConnectionPool[Any]]:
    async with open_pool(database, PoolSettings(min_size=1, max_size=1)) as pool:
        yield pool


def sql(url: str, query: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(query)


async def three_entries(pool: AsyncConnectionPool[Any]) -> Organization:
    """An organization with two projects: entries 1 to 3 of its chain."""
    org = Organization(name="Acme", slug="acme")
    async with PostgresUnitOfWork(pool, actor="user:alice", system=True) as uow:
        await uow.organizations.create(org)
        for slug in ("one", "two"):
            await uow.projects.create(
                Project(organization_id=org.id, name=slug, slug=slug, repository_url="u")
            )
        await uow.commit()
    return org


async def problems(pool: AsyncConnectionPool[Any]) -> list[str | None]:
    async with PostgresUnitOfWork(pool, system=True) as uow:
        return [c.problem for c in await uow.audit.verify()]


async def test_an_intact_trail_verifies(pool: AsyncConnectionPool[Any]) -> None:
    """Untouched, the chain verifies up to its recorded head."""
    await three_entries(pool)
    assert await problems(pool) == [None]


async def test_a_changed_entry_is_found(pool: AsyncConnectionPool[Any], database: str) -> None:
    """Rewriting an entry's fields breaks its hash."""
    await three_entries(pool)
    sql(database, "UPDATE audit_log SET actor = 'user:mallory' WHERE sequence = 2")
    assert await problems(pool) == ["entry 2 was changed after it was recorded"]


async def test_a_removed_entry_is_found(pool: AsyncConnectionPool[Any], database: str) -> None:
    """Deleting an entry in the middle leaves a gap."""
    await three_entries(pool)
    sql(database, "DELETE FROM audit_log WHERE sequence = 2")
    assert await problems(pool) == ["entries 2..2 are missing"]


async def test_removed_last_entries_are_found(
    pool: AsyncConnectionPool[Any], database: str
) -> None:
    """Deleting the last entries falls short of the recorded head."""
    await three_entries(pool)
    sql(database, "DELETE FROM audit_log WHERE sequence >= 2")
    assert await problems(pool) == ["entries 2..3 are missing"]


async def test_a_rewritten_chain_is_found_at_its_head(
    pool: AsyncConnectionPool[Any], database: str
) -> None:
    """An entry rewritten with a recomputed hash no longer links to the next one."""
    await three_entries(pool)
    sql(
        database,
        "UPDATE audit_log SET actor = 'user:mallory',"
        " hash = codeant_audit_hash(previous_hash, organization_id, sequence, occurred_at,"
        " 'user:mallory', entity, entity_id, action, before, after) WHERE sequence = 2",
    )
    assert await problems(pool) == ["entry 3 does not follow entry 2"]


async def test_changes_made_outside_the_adapters_are_recorded(
    pool: AsyncConnectionPool[Any], database: str
) -> None:
    """A change made with plain SQL is recorded too, as the database user's."""
    org = await three_entries(pool)
    sql(database, "UPDATE projects SET description = 'by hand' WHERE slug = 'one'")
    async with PostgresUnitOfWork(pool, system=True) as uow:
        (latest, *_) = await uow.audit.entries(organization_id=org.id)
    assert latest.actor.startswith("db:")
    assert latest.after == {"description": "by hand"}
    assert await problems(pool) == [None]


async def test_a_pooled_connection_does_not_lend_its_actor_to_the_next_unit(
    pool: AsyncConnectionPool[Any],
) -> None:
    """A unit without an actor, on the connection a named unit used before, is recorded
    under the default name, not the previous unit's."""
    org = await three_entries(pool)
    async with PostgresUnitOfWork(pool, system=True) as uow:
        await uow.projects.create(
            Project(organization_id=org.id, name="three", slug="three", repository_url="u")
        )
        await uow.commit()
    async with PostgresUnitOfWork(pool, system=True) as uow:
        (latest, previous, *_) = await uow.audit.entries(organization_id=org.id)
    assert previous.actor == "user:alice"
    assert latest.actor.startswith("db:")


async def test_an_actor_survives_a_rollback_of_the_unit(pool: AsyncConnectionPool[Any]) -> None:
    """The actor is the unit's, not its first transaction's: after a rolled-back block,
    the unit entered again still records its changes under it."""
    org = Organization(name="Acme", slug="acme")
    unit = PostgresUnitOfWork(pool, actor="user:dave", system=True)
    async with unit as uow:
        await uow.organizations.create(org)
        await uow.rollback()
    async with unit as uow:
        await uow.organizations.create(org)
        await uow.commit()
    async with PostgresUnitOfWork(pool, system=True) as uow:
        (entry,) = await uow.audit.entries()
    assert entry.actor == "user:dave"
