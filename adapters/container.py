"""The composition root: the one place that chooses and wires the adapters.

Each port is a provider of :class:`Container`. Where several adapters can serve a port, the
provider is a ``Selector`` over the configured choice, with one branch per adapter named
after that choice; adding an adapter means adding its branch (and its health check's).
Tests replace a provider with ``container.<name>.override(...)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from dependency_injector import containers, providers

from adapters.config import ConfigError, Settings
from adapters.embedders.hashing import HashingEmbedder
from adapters.embedders.sentence import MissingExtraError, SentenceTransformerEmbedder
from adapters.memory.cache import MemoryCache
from adapters.memory.database import MemoryDatabase
from adapters.memory.health import MemoryHealthCheck
from adapters.memory.outbox import MemoryOutbox
from adapters.memory.unit_of_work import MemoryUnitOfWork
from adapters.memory.vectors import MemoryVectorStore
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.health import PostgresHealthCheck
from adapters.postgres.outbox import PostgresOutbox
from adapters.postgres.pool import PoolSettings
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from adapters.postgres.vectors import PgVectorStore
from adapters.redis import RedisCache, RedisHealthCheck
from adapters.serialization import JsonCodec
from adapters.source import FileAnalyzer, GitSourceReader
from adapters.vector_health import VectorStoreHealthCheck
from application.caching import CachedQueries, CacheStats
from application.invalidation import CacheInvalidator
from application.relay import EventDispatcher
from application.similarity import VectorCleanup
from ports.vectors import VectorStore

__all__ = ["Container", "build_container", "close", "running"]


def _qdrant_store(*, path: Path | None, timeout: float, **server: Any) -> VectorStore:
    """Qdrant Edge, the engine in the process, for a directory (waiting up to ``timeout``
    for another process to release it); else a Qdrant server through qdrant-client. Each
    library is imported only when its store is the one chosen."""
    if path is not None:
        from adapters.qdrant.edge import QdrantEdgeVectorStore

        return QdrantEdgeVectorStore(path=path, lock_wait=timeout)
    from adapters.qdrant.store import QdrantVectorStore

    return QdrantVectorStore(timeout=timeout, **server)


def _vector_label(backend: str, qdrant_path: str | None) -> str:
    """The vector store's name in health reports: Qdrant Edge is ``qdrant-edge``."""
    return "qdrant-edge" if backend == "qdrant" and qdrant_path else backend


def _qdrant_path(path: str | None, data_dir: str) -> Path | None:
    """Qdrant Edge's directory; a relative one lies in the data directory."""
    if not path:
        return None
    return Path(data_dir) / path


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
        pool=providers.Factory(
            PoolSettings,
            min_size=config.pool_min_size,
            max_size=config.pool_max_size,
            timeout=config.pool_timeout,
            max_lifetime=config.pool_max_lifetime,
        ),
    )

    vector_store = providers.Selector(
        config.vector_backend,
        memory=providers.Singleton(MemoryVectorStore),
        pgvector=providers.Singleton(
            PgVectorStore,
            postgres_database,
            m=config.pgvector_m,
            ef_construction=config.pgvector_ef_construction,
            ef_search=config.pgvector_ef_search,
        ),
        qdrant=providers.Singleton(
            _qdrant_store,
            url=config.qdrant_url,
            path=providers.Callable(_qdrant_path, config.qdrant_path, config.data_dir),
            api_key=config.qdrant_api_key,
            timeout=config.qdrant_timeout,
        ),
    )
    cache = providers.Selector(
        config.cache_backend,
        memory=providers.Singleton(MemoryCache),
        redis=providers.Singleton(RedisCache, config.redis_url),
    )
    cache_stats = providers.Singleton(CacheStats)
    cache_invalidator = providers.Singleton(CacheInvalidator, cache)
    event_handlers = providers.List(
        cache_invalidator.provided.handle,
        providers.Factory(VectorCleanup, vector_store),
    )
    dispatcher = providers.Singleton(EventDispatcher, event_handlers)

    uow = providers.Selector(
        config.backend,
        memory=providers.Factory(MemoryUnitOfWork, memory_database, on_commit=dispatcher),
        postgres=providers.Factory(PostgresUnitOfWork, postgres_database, on_commit=dispatcher),
    )
    outbox = providers.Selector(
        config.backend,
        memory=providers.Singleton(MemoryOutbox, memory_database),
        postgres=providers.Singleton(PostgresOutbox, postgres_database),
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
        hashing=providers.Singleton(HashingEmbedder, dimension=config.embedding_dimension),
        **{"sentence-transformers": providers.Singleton(SentenceTransformerEmbedder)},
    )
    source_reader = providers.Singleton(GitSourceReader)
    code_analyzer = providers.Singleton(FileAnalyzer)

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
            redis=providers.Factory(RedisHealthCheck, cache, stats=cache_stats),
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
    """Release what the container's adapters hold open: the database pool and the embedded
    server (which stops when its last user leaves). Adapters open lazily, on first use."""
    await container.postgres_database().close()
    cache = container.cache()
    if isinstance(cache, RedisCache):
        await cache.aclose()
    store = container.vector_store()
    closing = getattr(store, "aclose", None)
    if closing is not None:
        await closing()


@contextlib.asynccontextmanager
async def running(container: Container) -> AsyncIterator[Container]:
    """The container for the block, closed after it even when the block fails."""
    try:
        yield container
    finally:
        await close(container)
