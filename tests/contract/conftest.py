"""Backends of the contract suites: every contract test runs against every registered backend.

A *backend factory* is a callable returning an async context manager. Entering it yields a
:class:`Backend` over a store that is empty; leaving it tears the store down. The ``backend``
fixture is parametrized over :data:`BACKENDS`, so a test asking for ``backend`` runs once per
registered adapter, with the registry key as its test id (``test_x[memory]``).

Contract tests talk to a backend through the ports only (a unit of work and an outbox), never
through an adapter's internals, so the same suite holds every adapter to the same contract.

Adding an adapter is one entry in :data:`BACKENDS`. A factory may take the pytest request
to reach session fixtures: the PostgreSQL backend uses the session's migrated database
(tests/conftest.py), emptied before each test; it skips, with the reason, when no server
can be had.

Suites of other ports (cache, vector store) keep a registry of their own and get the same kind
of fixture from :func:`contract_fixture`::

    CACHES = {"memory": memory_cache}
    cache = contract_fixture(CACHES, name="cache")
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

import attrs
import psycopg
import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.outbox import MemoryOutbox
from adapters.memory.unit_of_work import MemoryUnitOfWork
from adapters.postgres import PostgresOutbox, PostgresUnitOfWork, open_pool
from adapters.postgres.pool import PoolSettings
from domain.ids import OrganizationId
from ports.outbox import Outbox
from ports.unit_of_work import UnitOfWork

__all__ = ["BACKENDS", "Backend", "BackendFactory", "contract_fixture", "memory_backend"]

T = TypeVar("T")


class Backend(Protocol):
    """One store seen through the ports."""

    def uow(
        self, actor: str | None = None, organization_id: OrganizationId | None = None
    ) -> UnitOfWork:
        """A fresh unit of work on the store, recording its changes as ``actor``'s, for
        one organization (None: the system scope)."""
        ...

    def outbox(self) -> Outbox:
        """The outbox of the events committed by units of work on the store."""
        ...


BackendFactory = Callable[..., AbstractAsyncContextManager[Backend]]


@attrs.frozen
class MemoryBackend:
    """The in-memory adapters over one :class:`MemoryDatabase`."""

    database: MemoryDatabase

    def uow(
        self, actor: str | None = None, organization_id: OrganizationId | None = None
    ) -> UnitOfWork:
        return MemoryUnitOfWork(
            self.database,
            actor=actor,
            organization_id=organization_id,
            system=organization_id is None,
        )

    def outbox(self) -> Outbox:
        return MemoryOutbox(self.database)


@contextlib.asynccontextmanager
async def memory_backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """An empty in-memory store; nothing to tear down."""
    yield MemoryBackend(MemoryDatabase())


@attrs.frozen
class PostgresBackend:
    """The PostgreSQL adapters over one open pool."""

    pool: Any

    def uow(
        self, actor: str | None = None, organization_id: OrganizationId | None = None
    ) -> UnitOfWork:
        return PostgresUnitOfWork(
            self.pool,
            actor=actor,
            organization_id=organization_id,
            system=organization_id is None,
        )

    def outbox(self) -> Outbox:
        return PostgresOutbox(self.pool)


APPLICATION_ROLE = "codeant_app"
TRUNCATE_ALL = (
    "TRUNCATE organizations, users, rules, outbox_events, audit_log, audit_chain_heads,"
    " audit_staging RESTART IDENTITY CASCADE"
)


@contextlib.asynccontextmanager
async def postgres_backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """The session's migrated database, emptied (by its owner), behind a pool for this test
    whose connections work as the application's role, under row-level security."""
    url = request.getfixturevalue("migrated_database_url")
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as owner:
        await owner.execute(TRUNCATE_ALL)
    async with open_pool(url, PoolSettings(role=APPLICATION_ROLE)) as pool:
        yield PostgresBackend(pool)


BACKENDS: dict[str, BackendFactory] = {"memory": memory_backend, "postgres": postgres_backend}


def contract_fixture(
    registry: Mapping[str, Callable[..., AbstractAsyncContextManager[T]]], *, name: str
) -> Any:
    """A fixture called ``name``, parametrized over the keys of ``registry``, that enters the
    selected factory's context manager (passing it the pytest request if it takes one) and
    yields what it yields."""

    @pytest.fixture(name=name, params=list(registry))
    async def fixture(request: pytest.FixtureRequest) -> AsyncIterator[T]:
        factory = registry[request.param]
        takes_request = bool(inspect.signature(factory).parameters)
        async with factory(request) if takes_request else factory() as value:
            yield value

    return fixture


backend = contract_fixture(BACKENDS, name="backend")
