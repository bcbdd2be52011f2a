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

from dependency_injector import containers, providers

from adapters.config import ConfigError, Settings
from adapters.embedders.hashing import HashingEmbedder
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
from application.relay import EventDispatcher
from application.similarity import VectorCleanup

__all__ = ["Container", "build_container", "close", "running"]


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
    )
    event_handlers = providers.List(
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
    cache = providers.Selector(
        config.cache_backend,
        memory=providers.Singleton(MemoryCache),
    )
    embedder = providers.Singleton(HashingEmbedder, dimension=config.embedding_dimension)

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
            memory=providers.Factory(MemoryHealthCheck, "cache"),
        ),
        providers.Selector(
            config.vector_backend,
            memory=providers.Factory(MemoryHealthCheck, "vector_store"),
        ),
    )


def build_container(settings: Settings | None = None) -> Container:
    """A container configured from ``settings`` (by default :meth:`Settings.from_env`).

    Raises ConfigError if the settings choose an adapter this installation does not have.
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
    _require_adapter(
        "backend",
        settings.backend,
        container.uow,
        "it is chosen by CODEANT_BACKEND, or, when that is unset, by setting CODEANT_DATABASE_URL",
    )
    _require_adapter(
        "cache", settings.cache_backend, container.cache, "'redis' when CODEANT_REDIS_URL is set"
    )
    _require_adapter(
        "vector store",
        settings.vector_backend,
        container.vector_store,
        "'qdrant' when CODEANT_QDRANT_URL is set, else the backend",
    )
    return container


def _require_adapter(
    port: str, choice: str, selector: providers.Selector[object], chosen_by: str
) -> None:
    available = sorted(selector.providers)
    if choice not in available:
        raise ConfigError(
            port,
            choice,
            f"this installation has no such adapter (available: {', '.join(available)}); "
            f"{chosen_by}",
        )


async def close(container: Container) -> None:
    """Release what the container's adapters hold open: the database pool and the embedded
    server (which stops when its last user leaves). Adapters open lazily, on first use."""
    await container.postgres_database().close()


@contextlib.asynccontextmanager
async def running(container: Container) -> AsyncIterator[Container]:
    """The container for the block, closed after it even when the block fails."""
    try:
        yield container
    finally:
        await close(container)
