"""Contract of UnitOfWork: rollback by default and on error, isolation until commit, events
delivered to the outbox only with a commit, re-entry, and conflicts between concurrent units."""

from __future__ import annotations

import asyncio

import attrs
import pytest

from domain.events import OrganizationRegistered
from domain.ids import OrganizationId
from domain.organizations import Organization
from ports.errors import (
    ConcurrencyError,
    DuplicateError,
    NotFoundError,
    TransactionAbortedError,
)
from tests.contract.builders import add, organization, project, read, store, user
from tests.contract.conftest import Backend


class Boom(Exception):
    """Raised inside a unit of work to abort it."""


async def find_organization(
    backend: Backend, organization_id: OrganizationId
) -> Organization | None:
    return await read(backend, lambda uow: uow.organizations.find_by_id(organization_id))


def registered(org: Organization) -> OrganizationRegistered:
    return OrganizationRegistered(organization_id=org.id, slug=org.slug)


async def test_changes_without_commit_are_rolled_back(backend: Backend) -> None:
    """Leaving a unit without commit discards its changes."""
    org = organization()

    async with backend.uow() as uow:
        await uow.organizations.create(org)
        assert await uow.organizations.find_by_id(org.id) == org

    assert await find_organization(backend, org.id) is None


async def test_an_exception_rolls_back_and_propagates(backend: Backend) -> None:
    """An exception leaving the unit discards its changes and reaches the caller."""
    org = organization()

    with pytest.raises(Boom):
        async with backend.uow() as uow:
            await uow.organizations.create(org)
            raise Boom

    assert await find_organization(backend, org.id) is None


async def test_explicit_rollback_discards_the_changes(backend: Backend) -> None:
    """rollback discards what the unit wrote so far."""
    org = organization()

    async with backend.uow() as uow:
        await uow.organizations.create(org)
        await uow.rollback()

    assert await find_organization(backend, org.id) is None


async def test_commit_makes_changes_visible_to_a_new_unit(backend: Backend) -> None:
    """After commit, a new unit reads what the unit wrote."""
    org = organization()

    async with backend.uow() as uow:
        await uow.organizations.create(org)
        await uow.commit()

    found = await find_organization(backend, org.id)
    assert found is not None
    assert attrs.asdict(found) == attrs.asdict(org)


async def test_uncommitted_changes_are_invisible_to_a_concurrent_unit(backend: Backend) -> None:
    """A unit does not see another open unit's changes; once committed, new units do."""
    org = organization()

    async with backend.uow() as writer, backend.uow() as reader:
        await writer.organizations.create(org)
        assert await reader.organizations.find_by_id(org.id) is None
        assert await reader.organizations.find_by_slug(org.slug) is None
        await writer.commit()

    assert await find_organization(backend, org.id) == org


async def test_events_reach_the_outbox_only_when_the_unit_commits(backend: Backend) -> None:
    """Events are held by the unit until commit, then appear in the outbox."""
    org = organization()
    event = registered(org)
    outbox = backend.outbox()

    async with backend.uow() as uow:
        await uow.organizations.create(org)
        uow.add_event(event)
        assert list(uow.events) == [event]
        assert await outbox.pending() == []
        await uow.commit()

    assert [m.event for m in await outbox.pending()] == [event]


async def test_events_of_a_rolled_back_unit_never_reach_the_outbox(backend: Backend) -> None:
    """Events of a unit left without commit, or by an exception, are discarded."""
    outbox = backend.outbox()

    async with backend.uow() as uow:
        uow.add_event(registered(organization()))
    with pytest.raises(Boom):
        async with backend.uow() as uow:
            uow.add_event(registered(organization()))
            raise Boom

    assert await outbox.pending() == []


async def test_a_unit_can_be_entered_again_with_a_fresh_transaction(backend: Backend) -> None:
    """Re-entering a unit starts a new transaction with no events: the first commit stays,
    the second entry's uncommitted work and events are discarded."""
    kept, dropped = organization(), organization()
    event = registered(kept)
    uow = backend.uow()

    async with uow:
        await uow.organizations.create(kept)
        uow.add_event(event)
        await uow.commit()
    async with uow:
        assert list(uow.events) == []
        await uow.organizations.create(dropped)
        uow.add_event(registered(dropped))

    assert await find_organization(backend, kept.id) == kept
    assert await find_organization(backend, dropped.id) is None
    assert [m.event for m in await backend.outbox().pending()] == [event]


async def test_concurrent_update_of_the_same_entity_loses_with_concurrency_error(
    backend: Backend,
) -> None:
    """Of two units that read the same row, the one updating after the other committed gets
    ConcurrencyError and none of its changes are kept."""
    org = organization()
    await store(backend, org)
    bystander = user()

    async with backend.uow() as first, backend.uow() as second:
        mine = await first.organizations.find_by_id(org.id)
        theirs = await second.organizations.find_by_id(org.id)
        assert mine is not None and theirs is not None
        await first.organizations.update(attrs.evolve(mine, name="First"))
        await first.commit()
        await second.users.create(bystander)
        second.add_event(registered(org))
        with pytest.raises(ConcurrencyError):
            await second.organizations.update(attrs.evolve(theirs, name="Second"))
            await second.commit()

    found = await find_organization(backend, org.id)
    assert found is not None
    assert found.name == "First"
    assert await read(backend, lambda uow: uow.users.find_by_id(bystander.id)) is None
    assert await backend.outbox().pending() == []


async def test_concurrent_inserts_of_the_same_slug_let_exactly_one_win(backend: Backend) -> None:
    """Two units creating the same slug at once: one commits, the other gets DuplicateError
    and writes nothing (neither the organization nor its other changes)."""
    slug = organization().slug
    contenders = [organization(slug=slug) for _ in range(2)]
    parents = [organization() for _ in range(2)]
    events = [registered(o) for o in contenders]

    async def contend(i: int) -> None:
        async with backend.uow() as uow:
            await add(uow, parents[i])
            await add(uow, project(parents[i].id))
            await uow.organizations.create(contenders[i])
            uow.add_event(events[i])
            await uow.commit()

    outcomes = await asyncio.gather(contend(0), contend(1), return_exceptions=True)

    winners = [i for i, outcome in enumerate(outcomes) if outcome is None]
    assert len(winners) == 1, outcomes
    loser = 1 - winners[0]
    assert isinstance(outcomes[loser], DuplicateError), outcomes
    found = await read(backend, lambda uow: uow.organizations.find_by_slug(slug))
    assert found is not None
    assert found.id == contenders[winners[0]].id
    assert await find_organization(backend, parents[loser].id) is None
    assert await find_organization(backend, parents[winners[0]].id) is not None
    assert [m.event for m in await backend.outbox().pending()] == [events[winners[0]]]


async def test_a_failed_write_aborts_the_unit_until_it_is_rolled_back(backend: Backend) -> None:
    """After a constraint violation nothing more runs in the unit and it cannot commit
    (TransactionAbortedError); its earlier writes are gone and a new unit works."""
    taken = organization()
    await store(backend, taken)
    first = organization()

    with pytest.raises(TransactionAbortedError):
        async with backend.uow() as uow:
            await uow.organizations.create(first)
            with pytest.raises(DuplicateError):
                await uow.organizations.create(organization(slug=taken.slug))
            with pytest.raises(TransactionAbortedError):
                await uow.organizations.find_by_id(taken.id)
            await uow.commit()

    assert await find_organization(backend, first.id) is None
    assert await find_organization(backend, taken.id) is not None


async def test_an_update_of_a_missing_row_leaves_the_unit_usable(backend: Backend) -> None:
    """NotFoundError from updating an unknown entity does not abort the unit: it goes on
    and commits."""
    org = organization()
    async with backend.uow() as uow:
        with pytest.raises(NotFoundError):
            await uow.organizations.update(organization())
        await uow.organizations.create(org)
        await uow.commit()

    assert await find_organization(backend, org.id) is not None


async def test_commit_and_rollback_end_the_units_work_in_the_block(backend: Backend) -> None:
    """After commit (or rollback) the block's transaction is over: a repository used in the
    same block raises RuntimeError rather than running outside the unit's transaction;
    entering the unit again starts a fresh one."""
    org = organization()
    uow = backend.uow()
    async with uow:
        await uow.organizations.create(org)
        await uow.commit()
        with pytest.raises(RuntimeError, match="ended with its commit or rollback"):
            await uow.organizations.find_by_id(org.id)
    async with uow:
        await uow.rollback()
        with pytest.raises(RuntimeError, match="ended with its commit or rollback"):
            await uow.organizations.find_by_id(org.id)
    async with uow:
        assert await uow.organizations.find_by_id(org.id) == org
