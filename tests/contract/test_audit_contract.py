"""Contract: every committed change is in the audit trail, with its actor, in an intact
chain per organization."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import attrs

from domain.audit import AuditAction, AuditEntry, ChainCheck
from tests.contract import builders as b
from tests.contract.conftest import Backend


async def entries_of(backend: Backend, **filters: Any) -> list[AuditEntry]:
    async with backend.uow() as uow:
        return await uow.audit.entries(**filters)


async def verify(backend: Backend) -> list[ChainCheck]:
    async with backend.uow() as uow:
        return await uow.audit.verify()


async def test_a_change_is_recorded_with_its_actor_fields_and_organization(
    backend: Backend,
) -> None:
    """Creating and then updating a project records an insert with every field and an
    update with only the changed ones, before and after, as the unit's actor."""
    org = b.organization()
    project = b.project(org.id, description="old")
    async with backend.uow(actor="user:alice") as uow:
        await uow.organizations.create(org)
        await uow.projects.create(project)
        await uow.commit()
    async with backend.uow(actor="user:bob") as uow:
        stored = await uow.projects.find_by_id(project.id)
        assert stored is not None
        await uow.projects.update(attrs.evolve(stored, description="new"))
        await uow.commit()

    entries = await entries_of(backend, organization_id=org.id)
    assert [(e.entity, e.action, e.actor) for e in entries] == [
        ("projects", AuditAction.UPDATE, "user:bob"),
        ("projects", AuditAction.INSERT, "user:alice"),
        ("organizations", AuditAction.INSERT, "user:alice"),
    ]
    update, insert, _ = entries
    assert update.entity_id == str(project.id)
    assert update.before == {"description": "old"}
    assert update.after == {"description": "new"}
    assert insert.before is None
    assert insert.after is not None and insert.after["name"] == project.name
    assert all(e.organization_id == org.id for e in entries)
    assert [e.sequence for e in reversed(entries)] == [1, 2, 3]
    assert all(e.occurred_at.tzinfo is not None for e in entries)


async def test_a_rolled_back_change_leaves_no_entry(backend: Backend) -> None:
    """Changes that never commit are never recorded."""
    org = b.organization()
    async with backend.uow(actor="user:alice") as uow:
        await uow.organizations.create(org)
    assert await entries_of(backend) == []
    assert await verify(backend) == []


async def test_the_trail_filters_by_entity_row_and_time(backend: Backend) -> None:
    """Entries are found by table, by row id and from a time on."""
    base = await b.scaffold(backend)
    since = dt.datetime.now(dt.UTC)
    await asyncio.sleep(0.01)
    other = b.project(base.organization.id)
    await b.store(backend, other)

    projects = await entries_of(backend, entity="projects")
    assert {e.entity_id for e in projects} == {str(base.project.id), str(other.id)}
    one = await entries_of(backend, entity="projects", entity_id=str(other.id))
    assert [e.entity_id for e in one] == [str(other.id)]
    recent = await entries_of(backend, since=since)
    assert [(e.entity, e.entity_id) for e in recent] == [("projects", str(other.id))]
    assert len(await entries_of(backend, limit=1)) == 1


async def test_each_organization_has_its_own_intact_chain(backend: Backend) -> None:
    """Chains are numbered per organization from 1; users, which belong to none, form
    their own; every chain verifies."""
    first = await b.scaffold(backend)
    second = await b.scaffold(backend)
    await b.store(backend, b.user())

    for org in (first.organization, second.organization):
        sequences = sorted(e.sequence for e in await entries_of(backend, organization_id=org.id))
        assert sequences == [1, 2, 3]
    users = await entries_of(backend, entity="users")
    assert [(e.organization_id, e.sequence) for e in users] == [(None, 1)]

    checks = await verify(backend)
    assert {c.organization_id for c in checks} == {
        None,
        first.organization.id,
        second.organization.id,
    }
    assert all(c.intact and c.entries == c.last_sequence for c in checks), checks


async def test_rows_written_in_bulk_are_counted_per_job(backend: Backend) -> None:
    """Results written by an analysis are one entry per job: how many rows."""
    base = await b.scaffold(backend)
    file = b.file_index(base.repository.id)
    job = b.analysis_job(base.project.id)
    await b.store(backend, file, job)
    async with backend.uow() as uow:
        await b.analysed(uow, job.id, file.id)
        await uow.analysis.create_results(
            [b.analysis_result(job.id, file_id=file.id) for _ in range(3)]
        )
        await uow.commit()

    results = await entries_of(backend, entity="analysis_results")
    assert [(e.entity_id, e.action, e.after) for e in results] == [
        (str(job.id), AuditAction.INSERT, {"rows": 3})
    ]
    assert results[0].organization_id == base.organization.id
    files = await entries_of(backend, entity="file_index")
    assert [(e.entity_id, e.after) for e in files] == [(str(base.repository.id), {"rows": 1})]


async def test_a_deleted_row_keeps_its_organization_and_fields(backend: Backend) -> None:
    """Deleting a repository records the delete (with the fields it had) in its
    organization's chain, and so are the rows the delete cascades to."""
    base = await b.scaffold(backend)
    await b.store(backend, b.file_index(base.repository.id))
    async with backend.uow(actor="user:carol") as uow:
        await uow.repositories.delete(base.repository.id)
        await uow.commit()

    deletes = [
        e
        for e in await entries_of(backend, organization_id=base.organization.id)
        if e.action is AuditAction.DELETE
    ]
    assert {e.entity for e in deletes} == {"repositories", "file_index"}
    repository = next(e for e in deletes if e.entity == "repositories")
    assert repository.actor == "user:carol"
    assert repository.before is not None
    assert repository.before["local_path"] == base.repository.local_path
    assert repository.after is None
    assert all(c.intact for c in await verify(backend))


async def test_a_secret_change_is_recorded_without_the_secret(backend: Backend) -> None:
    """A changed password hash is recorded as changed, never with its value."""
    user = b.user(password_hash="first-secret-hash")
    await b.store(backend, user)
    async with backend.uow() as uow:
        stored = await uow.users.find_by_id(user.id)
        assert stored is not None
        await uow.users.update(attrs.evolve(stored, password_hash="second-secret-hash"))
        await uow.commit()

    entries = await entries_of(backend, entity="users")
    assert [e.action for e in entries] == [AuditAction.UPDATE, AuditAction.INSERT]
    assert entries[0].before == {"password_hash": "[redacted]"}
    assert entries[0].after == {"password_hash": "[redacted]"}
    assert "secret" not in repr(entries)


async def test_concurrent_units_of_one_organization_extend_one_chain(backend: Backend) -> None:
    """Units that commit at the same time are numbered one after the other: no number is
    taken twice, none is skipped, and the chain verifies."""
    base = await b.scaffold(backend)

    async def add_project() -> None:
        async with backend.uow(actor="worker") as uow:
            await uow.projects.create(b.project(base.organization.id))
            await asyncio.sleep(0)
            await uow.commit()

    await asyncio.gather(*(add_project() for _ in range(8)))
    entries = await entries_of(backend, organization_id=base.organization.id)
    assert sorted(e.sequence for e in entries) == list(range(1, 12))
    assert all(c.intact for c in await verify(backend))


async def test_an_unnamed_unit_is_recorded_under_a_default_actor(backend: Backend) -> None:
    """A unit made without an actor still records who: a non-empty default name."""
    await b.store(backend, b.organization())
    (entry,) = await entries_of(backend)
    assert entry.actor.startswith("db:")
