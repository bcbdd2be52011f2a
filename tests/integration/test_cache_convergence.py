"""Cached reads converge on what PostgreSQL holds, without an operator, after the faults
that used to leave them stale until their ttl: a process that died between its commit and
its invalidation, a Redis partition that lost invalidations, and a Redis restart that
brought back entries older than invalidations it had acknowledged.

Each "process" is a container of its own on one PostgreSQL database and one
``redis-server`` that the test owns (and pauses, kills and restarts). Nothing here asserts
how long anything took: the tests poll with generous deadlines and assert that reads end
up fresh, and stay fresh, from the cache.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import attrs
import pytest
from redis.asyncio import Redis

from adapters.config import Settings
from adapters.container import Container, build_container, close, running
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from application import create_project, register_organization, update_project
from application.breaker import CircuitState
from domain.events import ProjectUpdated
from domain.projects import Project
from ports.outbox import Outbox
from tests.integration.redis_process import RedisProcess, own_redis_process
from tests.polling import eventually

BREAKER_SECONDS = 1.0
INTERVAL = 0.1


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A Redis server of this test, saving its snapshot (when told) to its own directory."""
    with own_redis_process(tmp_path / "redis") as server:
        yield server


@pytest.fixture
def settings(tmp_path: Path, migrated_database_url: str, redis: RedisProcess) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url=migrated_database_url,
        redis_url=redis.url,
        cache_breaker_seconds=BREAKER_SECONDS,
        outbox_relay_interval=INTERVAL,
    )


@contextlib.asynccontextmanager
async def process(settings: Settings) -> AsyncIterator[Container]:
    """A container, as one process has, closed at the end (its relay not started)."""
    container = build_container(settings)
    try:
        yield container
    finally:
        await close(container)


async def _project(container: Container) -> Project:
    slug = f"acme-{uuid.uuid4().hex[:8]}"
    organization = await register_organization(container.uow(system=True), name="Acme", slug=slug)
    return await create_project(
        container.uow(system=True),
        organization.id,
        name="Billing",
        slug="billing",
        repository_url="x",
    )


async def _name_from_the_cache(container: Container, project: Project) -> tuple[str, bool]:
    """The project's name as the cached reads give it, and whether it was a hit."""
    queries = container.cached_queries()
    hits = queries.stats.hits
    found = await queries.project(project.id)
    return found.name, queries.stats.hits > hits


async def _fresh_from_the_cache(container: Container, project: Project, name: str) -> bool:
    """Whether two reads in a row give ``name``, the second from the cache."""
    first, _ = await _name_from_the_cache(container, project)
    second, hit = await _name_from_the_cache(container, project)
    return first == second == name and hit


async def test_a_change_whose_writer_died_before_invalidating_is_read_fresh(
    settings: Settings,
) -> None:
    """A change committed by a process that died before its commit hook ran is stale in
    the cache until a relay delivers its event: the reader's in-process relay does."""
    async with process(settings) as reader:
        project = await _project(reader)
        assert await _name_from_the_cache(reader, project) == ("Billing", False)
        assert await _name_from_the_cache(reader, project) == ("Billing", True)

        # the writer commits and dies before handling the event: no hook ran
        writer = PostgresUnitOfWork(reader.postgres_database(), system=True)
        await update_project(writer, project.id, name="Invoicing")
        assert await _name_from_the_cache(reader, project) == ("Billing", True)  # stale

        async with running(reader):
            await eventually(lambda: _fresh_from_the_cache(reader, project, "Invoicing"))
            assert (await reader.outbox().stats()).pending == 0


async def test_invalidations_lost_in_a_partition_are_delivered_after_it(
    settings: Settings, redis: RedisProcess
) -> None:
    """While Redis holds writes back (CLIENT PAUSE WRITE: reads go on) a change's
    invalidation times out in the writer, and the reader keeps serving the old entry; the
    writes held back are lost with their connections. Once writes are accepted again the
    writer's in-process relay delivers the invalidation, and the reader's reads are fresh,
    from the cache, for good."""
    async with process(settings) as reader, process(settings) as writer:
        project = await _project(writer)
        await _name_from_the_cache(reader, project)
        async with running(writer):
            await _admin(redis, "CLIENT", "PAUSE", 600_000, "WRITE")
            await update_project(writer.uow(system=True), project.id, name="Invoicing")

            assert writer.cache_breaker().outages == 1  # the hook's invalidation failed
            assert await _waiting(writer, project)
            assert await _name_from_the_cache(reader, project) == ("Billing", True)  # stale
            # the timed-out writes waiting in the paused server are lost with their clients
            await _admin(redis, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            await _admin(redis, "CLIENT", "UNPAUSE")
            await eventually(lambda: _none_pending(writer))
            await eventually(lambda: _fresh_from_the_cache(reader, project, "Invoicing"))
            for _ in range(5):
                assert await _name_from_the_cache(reader, project) == ("Invoicing", True)


async def _admin(redis: RedisProcess, *command: object) -> None:
    """Send one command with a plain client of its own."""
    async with Redis.from_url(redis.url) as admin:
        execute: Callable[..., Awaitable[object]] = admin.execute_command  # untyped in redis
        await execute(*command)


async def _none_pending(container: Container) -> bool:
    outbox: Outbox = container.outbox()
    return (await outbox.stats()).pending == 0


async def _waiting(container: Container, project: Project) -> bool:
    """Whether an update of ``project`` waits in the outbox."""
    messages = await container.outbox().pending(limit=1000)
    return any(
        isinstance(m.event, ProjectUpdated) and m.event.project_id == project.id for m in messages
    )


async def test_entries_a_restarted_redis_brought_back_are_never_served(
    settings: Settings, redis: RedisProcess
) -> None:
    """Redis killed after a snapshot comes back with an entry older than an invalidation
    it had acknowledged; neither the process that cached it nor one started after the
    restart ever reads that entry: reads are fresh, then cached again."""
    async with process(settings) as reader, process(settings) as writer:
        project = await _project(writer)
        await _name_from_the_cache(reader, project)
        await _admin(redis, "SAVE")  # the snapshot holds the cached "Billing"
        await update_project(writer.uow(system=True), project.id, name="Invoicing")  # invalidated
        assert await _name_from_the_cache(reader, project) == ("Invoicing", False)
        redis.kill()
        redis.start()

        async with process(settings) as newcomer:
            assert (await _name_from_the_cache(newcomer, project))[0] == "Invoicing"
            assert await _fresh_from_the_cache(newcomer, project, "Invoicing")
        assert (await _name_from_the_cache(reader, project))[0] == "Invoicing"
        assert await _fresh_from_the_cache(reader, project, "Invoicing")


async def test_a_stopped_redis_is_tried_once_per_breaker_period(
    settings: Settings, redis: RedisProcess
) -> None:
    """With Redis stopped, reads are answered from PostgreSQL; the cache is tried once,
    then skipped until the breaker's probe, so a partition does not slow every read."""
    async with process(attrs.evolve(settings, cache_breaker_seconds=300)) as reader:
        project = await _project(reader)
        await _name_from_the_cache(reader, project)
        redis.stop()
        names = [(await _name_from_the_cache(reader, project))[0] for _ in range(50)]
        breaker = reader.cache_breaker()

        assert set(names) == {"Billing"}
        assert breaker.state is CircuitState.OPEN
        assert (breaker.outages, breaker.skipped) == (1, 49)
        assert reader.cached_queries().stats.errors == 50
