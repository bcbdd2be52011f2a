"""The composition root: the one place that chooses and wires the adapters.

Each port is a provider of :class:`Container`. Where several adapters can serve a port, the
provider is a ``Selector`` over the configured choice, with one branch per adapter named
after that choice; adding an adapter means adding its branch (and its health check's).
Tests replace a provider with ``container.<name>.override(...)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from dependency_injector import containers, providers

from adapters.code_index import VectorCodeIndex
from adapters.config import ConfigError, Settings
from adapters.embedders.hashing import HashingEmbedder
from adapters.embedders.sentence import MissingExtraError, SentenceTransformerEmbedder
from adapters.exact_neighbours import ExactNeighbours
from adapters.memory.cache import MemoryCache
from adapters.memory.database import MemoryDatabase
from adapters.memory.health import MemoryHealthCheck
from adapters.memory.outbox import MemoryOutbox
from adapters.memory.unit_of_work import MemoryUnitOfWork
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.health import PostgresHealthCheck
from adapters.postgres.outbox import PostgresOutbox
from adapters.postgres.pool import PoolSettings
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from adapters.postgres.vectors import PgVectorStore
from adapters.runtime import LocalLiveness
from adapters.serialization import JsonCodec
from adapters.source import FileAnalyzer, GitSourceReader
from adapters.vector_health import VectorStoreHealthCheck
from application.breaker import CircuitBreaker, GuardedCache
from application.caching import CachedQueries, CacheStats
from application.invalidation import CacheInvalidator
from application.relay import DeliverOnCommit, EventDispatcher, OutboxRelay, RelayWorker
from application.similarity import VectorCleanup
from ports.vectors import VectorStore

__all__ = ["Container", "build_container", "close", "running"]

log = logging.getLogger(__name__)

_CLOSE_TIMEOUT = 5.0
"""Seconds closing waits to mark the events handled after commit delivered in the outbox."""


def _qdrant_store(*, path: Path | None, timeout: float, **server: Any) -> VectorStore:
    """Qdrant Edge, the engine in the process, for a directory (waiting up to ``timeout``
    for another process to release it); else a Qdrant server through qdrant-client. Each
    library is imported only when its store is the one chosen."""
    if path is not None:
        from adapters.qdrant.edge import QdrantEdgeVectorStore

        return QdrantEdgeVectorStore(path=path, lock_wait=timeout)
    from adapters.qdrant.store import QdrantVectorStore

    return QdrantVectorStore(timeout=timeout, **server)


def _deferred(module: str, name: str) -> Callable[..., Any]:
    """A provider's factory for an adapter whose library only some configurations use:
    the module is imported when the provider first builds one, so a command that never
    reaches it does not pay the import (the Redis client's and numpy's are about 50 ms
    each)."""

    def build(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    build.__qualname__ = build.__name__ = name
    return build


def _vector_label(backend: str, qdrant_path: str | None) -> str:
    """The vector store's name in health reports: Qdrant Edge is ``qdrant-edge``."""
    return "qdrant-edge" if backend == "qdrant" and qdrant_path else backend


def _or_none(value: int) -> int | None:
    """A setting whose 0 means "not set"."""
    return value or None


def _qdrant_path(path: str | None, data_dir: str) -> Path | None:
    """Qdrant Edge's directory; a relative one lies in the data directory."""
    if not path:
        return None
    return Path(data_dir) / path


def _processors() -> int:
    """The processors this machine has: the worker processes of CPU-bound adapters."""
    return os.cpu_count() or 1


class Container(containers.DeclarativeContainer):
    """The adapters, chosen by ``config`` (filled from :class:`Settings` by
    :func:`build_container`).

    ``uow`` makes a fresh unit of work on every call (it is the UnitOfWorkFactory services
    take, as ``container.uow.provider``); the other providers hand out one shared instance.
    ``config.backend`` chooses the system of record (``uow`` and ``outbox``),
    ``config.cache_backend`` the cache and ``config.vector_backend`` the vector store;
    ``health_checks`` holds one check per component, chosen the same way.
    """

    config = providers.Configuration(strict=True)

    memory_database = providers.Singleton(MemoryDatabase)
    postgres_database = providers.Singleton(
        PostgresDatabase,
        url=config.database_url,
        data_dir=providers.Callable(Path, config.data_dir),
        migrate=config.auto_migrate,
        idle_timeout=config.embedded_idle_timeout,
        pool=providers.Factory(
            PoolSettings,
            min_size=config.pool_min_size,
            max_size=config.pool_max_size,
            timeout=config.pool_timeout,
            max_lifetime=config.pool_max_lifetime,
            role=config.database_role,
        ),
    )

    vector_store = providers.Selector(
        config.vector_backend,
        memory=providers.Singleton(_deferred("adapters.memory.vectors", "MemoryVectorStore")),
        pgvector=providers.Singleton(
            PgVectorStore,
            postgres_database,
            m=config.pgvector_m,
            ef_construction=config.pgvector_ef_construction,
            ef_search=config.pgvector_ef_search,
            index=config.pgvector_index,
            rescore=config.pgvector_rescore,
            build_memory_mb=providers.Callable(_or_none, config.pgvector_build_memory_mb),
            index_threshold=config.pgvector_index_threshold,
        ),
        qdrant=providers.Singleton(
            _qdrant_store,
            url=config.qdrant_url,
            path=providers.Callable(_qdrant_path, config.qdrant_path, config.data_dir),
            api_key=config.qdrant_api_key,
            timeout=config.qdrant_timeout,
        ),
    )
    code_index = providers.Singleton(VectorCodeIndex, vector_store)
    cache_breaker = providers.Singleton(CircuitBreaker, open_seconds=config.cache_breaker_seconds)
    redis_cache = providers.Singleton(_deferred("adapters.redis", "RedisCache"), config.redis_url)
    cache = providers.Selector(
        config.cache_backend,
        memory=providers.Singleton(MemoryCache),
        redis=providers.Singleton(GuardedCache, redis_cache, cache_breaker),
    )
    cache_stats = providers.Singleton(CacheStats)
    cache_invalidator = providers.Singleton(CacheInvalidator, cache)
    event_handlers = providers.List(
        cache_invalidator.provided.handle,
        providers.Factory(VectorCleanup, code_index),
    )
    dispatcher = providers.Singleton(EventDispatcher, event_handlers)

    outbox = providers.Selector(
        config.backend,
        memory=providers.Singleton(MemoryOutbox, memory_database),
        postgres=providers.Singleton(PostgresOutbox, postgres_database),
    )
    commit_hook = providers.Singleton(DeliverOnCommit, dispatcher, outbox)
    uow = providers.Selector(
        config.backend,
        memory=providers.Factory(
            MemoryUnitOfWork, memory_database, on_commit=commit_hook, actor=config.actor
        ),
        postgres=providers.Factory(
            PostgresUnitOfWork, postgres_database, on_commit=commit_hook, actor=config.actor
        ),
    )
    relay = providers.Singleton(OutboxRelay, outbox, dispatcher, ready=cache_breaker.provided.ready)
    relay_worker = providers.Singleton(
        RelayWorker, relay, interval=config.outbox_relay_interval, hook=commit_hook
    )
    cached_queries = providers.Singleton(
        CachedQueries,
        cache,
        providers.Singleton(JsonCodec),
        uow.provider,
        ttl_projects=config.cache_ttl_projects,
        ttl_analysis=config.cache_ttl_analysis,
        ttl_metrics=config.cache_ttl_metrics,
        stats=cache_stats,
    )
    embedder = providers.Selector(
        config.embedder,
        hashing=providers.Singleton(
            HashingEmbedder,
            dimension=config.embedding_dimension,
            workers=providers.Callable(_processors),  # large batches on every core
        ),
        **{"sentence-transformers": providers.Singleton(SentenceTransformerEmbedder)},
    )
    liveness = providers.Singleton(LocalLiveness)
    source_reader = providers.Singleton(GitSourceReader)
    code_analyzer = providers.Singleton(FileAnalyzer)
    nearest_neighbours = providers.Singleton(ExactNeighbours)

    health_checks = providers.List(
        providers.Selector(
            config.backend,
            memory=providers.Factory(
                MemoryHealthCheck, "database", probe=memory_database.provided.row_count
            ),
            postgres=providers.Factory(PostgresHealthCheck, postgres_database),
        ),
        providers.Selector(
            config.cache_backend,
            memory=providers.Factory(
                MemoryHealthCheck, "cache", probe=cache_stats.provided.as_dict
            ),
            redis=providers.Factory(
                _deferred("adapters.redis", "RedisHealthCheck"),
                redis_cache,
                stats=cache_stats,
                breaker=cache_breaker,
            ),
        ),
        providers.Factory(
            VectorStoreHealthCheck,
            vector_store,
            backend=providers.Callable(_vector_label, config.vector_backend, config.qdrant_path),
        ),
    )


def build_container(settings: Settings | None = None) -> Container:
    """A container configured from ``settings`` (by default :meth:`Settings.from_env`).

    Raises ConfigError if the settings choose the sentence-transformers embedder and the
    ``ml`` extra is not installed. Nothing connects or starts here: adapters open on first
    use.
    """
    if settings is None:
        settings = Settings.from_env()
    container = Container()
    container.config.from_dict(
        {
            **settings.as_dict(mask_secrets=False),
            "cache_backend": settings.cache_backend,
            "vector_backend": settings.vector_backend,
        }
    )
    if settings.embedder == "sentence-transformers":
        try:
            container.embedder()  # checks the ml extra is installed (the model loads later)
        except MissingExtraError as exc:
            raise ConfigError("embedder", settings.embedder, str(exc)) from None
    return container


async def close(container: Container) -> None:
    """Release what the container's adapters hold open: the outbox relay's background
    task, the database pool and the embedded server (which stops once idle for its idle
    time), the Redis connections. Before the pool closes, the events handled right after
    their commit are marked delivered in the outbox (for at most a few seconds; what is
    left is delivered again by a relay). Adapters open lazily, on first use."""
    await container.relay_worker().stop()
    hook = container.commit_hook()
    if hook.unacknowledged:
        try:
            await asyncio.wait_for(hook.acknowledge(), _CLOSE_TIMEOUT)
        except Exception as exc:
            log.warning(
                "could not mark %d handled events delivered (a relay delivers them again): %s",
                hook.unacknowledged,
                exc,
            )
    await container.postgres_database().close()
    if container.config.cache_backend() == "redis":
        await container.redis_cache().aclose()
    store = container.vector_store()
    closing = getattr(store, "aclose", None)
    if closing is not None:
        await closing()


@contextlib.asynccontextmanager
async def running(container: Container) -> AsyncIterator[Container]:
    """The container for the block, closed after it even when the block fails.

    Unless the ``outbox_relay`` setting is off, the outbox relay runs in the background
    for the block (see :class:`~application.relay.RelayWorker`): it delivers what commit
    hooks could not (a process that died after its commit, a cache that was down), a pass
    every ``outbox_relay_interval`` seconds, and is stopped before the adapters close."""
    try:
        if container.config.outbox_relay():
            container.relay_worker().start()
        yield container
    finally:
        await close(container)
