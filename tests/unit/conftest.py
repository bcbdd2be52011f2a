"""Fixtures of the service tests: an in-memory store, a unit of work over it, its outbox,
and a registered organization with a project."""

from __future__ import annotations

import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.outbox import MemoryOutbox
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application import create_project, register_organization
from domain.events import DomainEvent
from domain.projects import Project
from tests.unit.fakes import Committed, Events


@pytest.fixture
def db() -> MemoryDatabase:
    return MemoryDatabase()


@pytest.fixture
def uow(db: MemoryDatabase) -> MemoryUnitOfWork:
    return MemoryUnitOfWork(db, system=True)


@pytest.fixture
def outbox(db: MemoryDatabase) -> MemoryOutbox:
    return MemoryOutbox(db)


@pytest.fixture
def events(outbox: MemoryOutbox) -> Events:
    """Reads the committed events not yet delivered, oldest first."""

    async def pending() -> list[DomainEvent]:
        return [m.event for m in await outbox.pending(limit=10_000)]

    return pending


@pytest.fixture
def committed(db: MemoryDatabase) -> Committed:
    """Takes a fingerprint of everything committed: the version of every row ever written
    and the outbox length. Equal fingerprints mean nothing was written in between."""
    return lambda: (dict(db.versions), len(db.outbox))


@pytest.fixture
async def project(uow: MemoryUnitOfWork, outbox: MemoryOutbox) -> Project:
    """A project of a fresh organization; the events of this setup are already delivered."""
    organization = await register_organization(uow, name="Acme", slug="acme")
    created = await create_project(
        uow,
        organization.id,
        name="Billing service",
        slug="billing",
        repository_url="https://git.example.com/acme/billing.git",
        description="Invoices and payments",
    )
    await outbox.mark_delivered([m.id for m in await outbox.pending(limit=10_000)])
    return created
