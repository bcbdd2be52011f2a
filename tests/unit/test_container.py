"""The composition root: which adapters it builds, how it shares them, how tests override."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.config import ConfigError, Settings
from adapters.container import Container, build_container, close, running
from adapters.embedders.hashing import HashingEmbedder
from adapters.memory.cache import MemoryCache
from adapters.memory.outbox import MemoryOutbox
from adapters.memory.unit_of_work import MemoryUnitOfWork
from adapters.memory.vectors import MemoryVectorStore
from adapters.postgres.outbox import PostgresOutbox
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from adapters.postgres.vectors import INDEX_THRESHOLD, PgVectorStore
from adapters.qdrant import QdrantEdgeVectorStore, QdrantVectorStore
from adapters.redis import RedisCache, RedisHealthCheck
from application import create_project, register_organization, update_project
from application.breaker import GuardedCache
from application.caching import CachedQueries
from domain.ids import ProjectId
from domain.organizations import Organization
from domain.projects import Project
from ports.health import HealthStatus
from tests.polling import eventually


@pytest.fixture
def container(tmp_path: Path) -> Container:
    return build_container(Settings(data_dir=tmp_path, backend="memory"))


def test_memory_backend_wires_in_memory_adapters(container: Container) -> None:
    """The memory backend wires every port to its in-memory adapter."""
    assert isinstance(container.uow(system=True), MemoryUnitOfWork)
    assert isinstance(container.outbox(), MemoryOutbox)
    assert isinstance(container.cache(), MemoryCache)
    assert isinstance(container.vector_store(), MemoryVectorStore)
    assert isinstance(container.embedder(), HashingEmbedder)


def test_postgres_is_the_default_and_opens_nothing_until_used(tmp_path: Path) -> None:
    """Default settings wire the PostgreSQL unit of work and outbox over one database
    object, without starting a server or opening a pool at build time."""
    container = build_container(Settings(data_dir=tmp_path))
    assert isinstance(container.uow(system=True), PostgresUnitOfWork)
    assert isinstance(container.outbox(), PostgresOutbox)
    database = container.postgres_database()
    assert database is container.postgres_database()
    assert database.embedded and database.url is None
    assert not (tmp_path / "postgres").exists()


def test_a_redis_url_wires_the_redis_cache_without_connecting(tmp_path: Path) -> None:
    """With a Redis URL the cache is Redis's behind the circuit breaker, and its health
    check Redis's, built without a connection; cached queries and invalidation share that
    cache."""
    container = build_container(
        Settings(data_dir=tmp_path, backend="memory", redis_url="redis://127.0.0.1:1/0")
    )
    cache = container.cache()
    assert isinstance(cache, GuardedCache)
    assert isinstance(cache.cache, RedisCache)
    assert cache.breaker is container.cache_breaker()
    assert any(isinstance(check, RedisHealthCheck) for check in container.health_checks())
    assert container.cached_queries() is container.cached_queries()


def test_pgvector_gets_the_configured_index(tmp_path: Path) -> None:
    """The pgvector store builds the configured kind of HNSW index, with the configured
    build memory (the server's without one), from the configured size of a collection,
    and re-scores as many candidates as configured."""
    settings = Settings(data_dir=tmp_path, pgvector_index="binary", pgvector_rescore=25)
    store = build_container(settings).vector_store()
    assert isinstance(store, PgVectorStore)
    assert (store.index, store.rescore, store.build_memory_mb) == ("binary", 25, None)
    assert store.index_threshold == INDEX_THRESHOLD
    settings = Settings(data_dir=tmp_path, pgvector_build_memory_mb=512, pgvector_index_threshold=0)
    store = build_container(settings).vector_store()
    assert isinstance(store, PgVectorStore)
    assert (store.build_memory_mb, store.index_threshold) == (512, 0)


def test_embedder_has_the_configured_dimension(tmp_path: Path) -> None:
    """The embedder produces vectors of the configured dimension."""
    container = build_container(Settings(data_dir=tmp_path, embedding_dimension=64))
    assert container.embedder().dimension == 64


def test_config_holds_the_settings_and_adapter_choices(tmp_path: Path) -> None:
    """The container's configuration carries every setting, unmasked, and the choices."""
    url = "postgresql://app:s3cret@db/codeant"
    settings = Settings(data_dir=tmp_path, database_url=url, backend="memory")
    config = build_container(settings).config()
    assert config["database_url"] == url
    assert config["data_dir"] == str(tmp_path)
    assert config["cache_ttl_metrics"] == 86400
    assert (config["backend"], config["cache_backend"], config["vector_backend"]) == (
        "memory",
        "memory",
        "memory",
    )


async def test_each_uow_is_fresh_over_one_database(container: Container) -> None:
    """Every call gives a new unit of work, and what one commits another reads."""
    writer, reader = container.uow(system=True), container.uow(system=True)
    assert writer is not reader
    organization = Organization(name="Acme", slug="acme")
    async with writer:
        await writer.organizations.create(organization)
        await writer.commit()
    async with reader:
        found = await reader.organizations.find_by_slug("acme")
    assert found is not None
    assert found.id == organization.id


def test_shared_adapters_are_singletons(container: Container) -> None:
    """The cache, vector store, outbox and embedder are one instance per container."""
    for provider in (container.cache, container.vector_store, container.outbox):
        assert provider() is provider()
    assert container.embedder() is container.embedder()


async def test_containers_do_not_share_state(tmp_path: Path) -> None:
    """Two containers have separate in-memory databases."""
    first = build_container(Settings(data_dir=tmp_path, backend="memory"))
    second = build_container(Settings(data_dir=tmp_path, backend="memory"))
    uow = first.uow(system=True)
    async with uow:
        await uow.organizations.create(Organization(name="Acme", slug="acme"))
        await uow.commit()
    other = second.uow(system=True)
    async with other:
        assert await other.organizations.find_by_slug("acme") is None


def test_override_replaces_a_provider_until_reset(container: Container) -> None:
    """A provider overridden with an object returns it, and the original after reset."""
    original = container.cache()
    replacement = MemoryCache()
    with container.cache.override(replacement):
        assert container.cache() is replacement
    assert container.cache() is original


async def test_health_checks_report_a_fresh_memory_store_healthy(container: Container) -> None:
    """The configured health checks all report healthy on a fresh in-memory store."""
    checks = container.health_checks()
    assert checks
    reports = [await check.check() for check in checks]
    assert {report.status for report in reports} == {HealthStatus.HEALTHY}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"backend": "memory", "vector_backend": "pgvector"}, r"needs the postgres backend"),
        ({"vector_backend": "qdrant"}, r"needs qdrant_url \(a server\) or qdrant_path"),
        (
            {"qdrant_url": "http://q:6333", "qdrant_path": "vectors"},
            r"cannot be set together with qdrant_url",
        ),
        ({"pgvector_m": 40}, r"must be at least twice pgvector_m \(80\)"),
        (
            {"embedder": "sentence-transformers", "embedding_dimension": 64},
            r"must be 384 with the sentence-transformers embedder",
        ),
    ],
)
def test_inconsistent_vector_settings_are_config_errors(
    tmp_path: Path, settings: dict[str, object], message: str
) -> None:
    """Vector settings that cannot work together fail when the settings are made, naming
    the setting."""
    with pytest.raises(ConfigError, match=message):
        Settings(data_dir=tmp_path, **settings)


def test_vector_store_follows_the_settings(tmp_path: Path) -> None:
    """pgvector beside PostgreSQL by default, Qdrant Edge in the data directory when a path
    is set, qdrant-client for a server URL, the exact in-process store with the memory
    backend."""
    assert isinstance(build_container(Settings(data_dir=tmp_path)).vector_store(), PgVectorStore)
    local = build_container(Settings(data_dir=tmp_path, qdrant_path="vectors")).vector_store()
    assert isinstance(local, QdrantEdgeVectorStore)
    assert local.path == tmp_path / "vectors"
    server = build_container(Settings(data_dir=tmp_path, qdrant_url="http://q:6333"))
    assert isinstance(server.vector_store(), QdrantVectorStore)
    memory = build_container(Settings(data_dir=tmp_path, backend="memory")).vector_store()
    assert isinstance(memory, MemoryVectorStore)


# --------------------------------------------------------------------------- running


def _relay_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "codeant-outbox-relay"]


async def test_running_relays_the_outbox_in_the_background(tmp_path: Path) -> None:
    """Inside running(container) the outbox relay runs: a change committed by a unit that
    never handled its event (its process died after the commit) reaches the cached reads
    without anyone running a relay by hand; afterwards no task is left."""
    settings = Settings(data_dir=tmp_path, backend="memory", outbox_relay_interval=0.01)
    async with running(build_container(settings)) as container:
        assert len(_relay_tasks()) == 1
        queries = container.cached_queries()
        project = await _project(container)
        await queries.project(project.id)

        unhandled = MemoryUnitOfWork(container.memory_database(), system=True)  # no commit hook
        await update_project(unhandled, project.id, name="Invoicing")
        await eventually(lambda: _name(queries, project.id, "Invoicing"))

    assert _relay_tasks() == []
    assert not container.relay_worker().running


async def _project(container: Container) -> Project:
    organization = await register_organization(container.uow(system=True), name="Acme", slug="acme")
    return await create_project(
        container.uow(system=True),
        organization.id,
        name="Billing",
        slug="billing",
        repository_url="x",
    )


async def _name(queries: CachedQueries, project_id: ProjectId, name: str) -> bool:
    return (await queries.project(project_id)).name == name


async def test_the_relay_can_be_turned_off(tmp_path: Path) -> None:
    """With outbox_relay off, running(container) starts no relay (another process runs
    ``codeant outbox relay --follow``)."""
    settings = Settings(data_dir=tmp_path, backend="memory", outbox_relay=False)
    async with running(build_container(settings)) as container:
        assert _relay_tasks() == []
        assert not container.relay_worker().running


async def test_close_marks_events_handled_after_commit_delivered(container: Container) -> None:
    """Without a relay running, the events the commit hook handled are marked delivered
    in the outbox when the container closes, so no relay delivers them again."""
    await _project(container)
    assert len(await container.outbox().pending()) == 2

    await close(container)

    assert await container.outbox().pending() == []
    assert (await container.outbox().stats()).delivered == 2


async def test_a_block_that_fails_still_stops_the_relay(tmp_path: Path) -> None:
    """When the block of running(container) raises, the relay is stopped all the same."""
    settings = Settings(data_dir=tmp_path, backend="memory")
    with pytest.raises(RuntimeError, match="boom"):
        async with running(build_container(settings)):
            raise RuntimeError("boom")
    assert _relay_tasks() == []
