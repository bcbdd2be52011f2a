"""Cached reads converge after a cache outage that swallowed an invalidation: the cache
comes back holding the old entry, and the background relay delivers the invalidation.
In memory, with a cache that fails on demand; no timing is asserted, only the outcome."""

from __future__ import annotations

import functools

import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.outbox import MemoryOutbox
from adapters.memory.unit_of_work import MemoryUnitOfWork
from adapters.serialization import JsonCodec
from application import update_project
from application.breaker import CircuitBreaker, GuardedCache
from application.caching import CachedQueries
from application.invalidation import CacheInvalidator
from application.relay import DeliverOnCommit, EventDispatcher, OutboxRelay, RelayWorker
from domain.ids import ProjectId
from domain.projects import Project
from tests.polling import eventually
from tests.unit.fakes import FailingCache


@pytest.fixture
def cache() -> FailingCache:
    return FailingCache()


@pytest.fixture
def guarded(cache: FailingCache) -> GuardedCache:
    return GuardedCache(cache, CircuitBreaker(open_seconds=0.05))


@pytest.fixture
def hook(guarded: GuardedCache, outbox: MemoryOutbox) -> DeliverOnCommit:
    return DeliverOnCommit(EventDispatcher([CacheInvalidator(guarded).handle]), outbox)


async def test_an_invalidation_lost_in_an_outage_is_delivered_once_the_cache_answers(
    db: MemoryDatabase,
    outbox: MemoryOutbox,
    cache: FailingCache,
    guarded: GuardedCache,
    hook: DeliverOnCommit,
    project: Project,
) -> None:
    """While the cache is down a change's invalidation fails and reads come from the store;
    when the cache answers again it still holds the old entry, which is served until the
    relay (started afterwards here, to show it is what repairs it) delivers the event."""
    queries = CachedQueries(guarded, JsonCodec(), functools.partial(MemoryUnitOfWork, db))
    assert (await queries.project(project.id)).name == project.name
    cache.down()

    await update_project(
        MemoryUnitOfWork(db, on_commit=hook, system=True), project.id, name="Renamed"
    )
    assert (await queries.project(project.id)).name == "Renamed"  # from the store
    assert len(await outbox.pending()) == 1
    cache.up()
    await eventually(guarded.breaker.ready)
    assert (await queries.project(project.id)).name == project.name  # stale, from the cache

    relay = OutboxRelay(
        outbox, EventDispatcher([CacheInvalidator(guarded).handle]), ready=guarded.breaker.ready
    )
    worker = RelayWorker(relay, interval=0.01, hook=hook)
    worker.start()
    try:
        await eventually(lambda: _renamed_from_the_cache(queries, project.id))
    finally:
        await worker.stop()
    assert await MemoryOutbox(db).pending() == []


async def _renamed_from_the_cache(queries: CachedQueries, project_id: ProjectId) -> bool:
    first = await queries.project(project_id)
    hits = queries.stats.hits
    second = await queries.project(project_id)
    return first.name == second.name == "Renamed" and queries.stats.hits == hits + 1
