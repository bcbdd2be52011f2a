"""Contract of OrganizationRepository: round trips, unique slugs, optimistic concurrency,
row locks, soft delete and keyset pagination."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import attrs
import pytest

from domain.ids import OrganizationId, UserId, new_id
from domain.organizations import Organization
from domain.values import (
    AnalysisConfig,
    NotificationPreferences,
    OrganizationSettings,
    SecuritySettings,
    WebhookSettings,
)
from ports.errors import ConcurrencyError, DuplicateError, NotFoundError
from ports.pagination import Page, PageRequest
from ports.repositories import ORGANIZATION_SORTS
from ports.unit_of_work import UnitOfWork
from tests.contract.builders import (
    at,
    fields_of,
    member,
    organization,
    project,
    read,
    store,
    token,
    user,
)
from tests.contract.conftest import Backend
from tests.contract.paging import assert_keyset_pagination, assert_rejects_bad_requests, walk

RICH_SETTINGS = OrganizationSettings(
    default_analysis_config=AnalysisConfig(
        categories=("security", "performance"),
        languages=("python", "rust"),
        min_severity="low",
        max_file_size_bytes=2_000_000,
        exclude_patterns=("vendor/**", "*.min.js"),
        include_tests=False,
    ),
    webhook_settings=WebhookSettings(
        url="https://hooks.example.com/codeant", events=("analysis.completed",), active=True
    ),
    notification_preferences=NotificationPreferences(
        email_on_completion=False, min_severity="critical", digest="daily"
    ),
    security_settings=SecuritySettings(
        require_two_factor=True,
        allowed_email_domains=("example.com",),
        session_timeout_minutes=60,
        ip_allowlist=("10.0.0.0/8",),
    ),
)


def list_organizations(uow: UnitOfWork, request: PageRequest) -> Awaitable[Page[Organization]]:
    return uow.organizations.list(request)


async def test_create_then_find_round_trips_every_field(backend: Backend) -> None:
    """An organization reads back by id and by slug with every field, settings included."""
    org = organization(
        description="Acme's code",
        settings=RICH_SETTINGS,
        subscription_plan="enterprise",
        created_at=at(0),
        updated_at=at(1),
    )
    await store(backend, org)

    by_id = await read(backend, lambda uow: uow.organizations.find_by_id(org.id))
    assert by_id is not None
    by_slug = await read(backend, lambda uow: uow.organizations.find_by_slug(org.slug))
    assert by_slug is not None

    assert attrs.asdict(by_id) == attrs.asdict(org)
    assert attrs.asdict(by_slug) == attrs.asdict(org)


async def test_lookups_of_unknown_organizations_return_none(backend: Backend) -> None:
    """Finding an id or slug that was never stored returns None."""
    await store(backend, organization())

    assert (
        await read(backend, lambda uow: uow.organizations.find_by_id(OrganizationId(new_id())))
        is None
    )
    assert await read(backend, lambda uow: uow.organizations.find_by_slug("nope")) is None


async def test_duplicate_slug_raises_duplicate_error(backend: Backend) -> None:
    """A second organization with a taken slug is refused and not stored."""
    first = organization()
    await store(backend, first)
    clash = organization(slug=first.slug)

    with pytest.raises(DuplicateError):
        await store(backend, clash)

    assert await read(backend, lambda uow: uow.organizations.find_by_id(clash.id)) is None


async def test_update_returns_the_stored_entity_with_a_newer_updated_at(backend: Backend) -> None:
    """update stores the changes and returns them with an updated_at later than before."""
    org = organization(created_at=at(0), updated_at=at(0))
    await store(backend, org)
    changed = attrs.evolve(org, name="Renamed", settings=RICH_SETTINGS, subscription_plan="pro")

    async with backend.uow() as uow:
        updated = await uow.organizations.update(changed)
        await uow.commit()

    assert updated.updated_at > org.updated_at
    assert fields_of(updated, "updated_at") == fields_of(changed, "updated_at")
    found = await read(backend, lambda uow: uow.organizations.find_by_id(org.id))
    assert found is not None
    assert attrs.asdict(found) == attrs.asdict(updated)


async def test_update_with_a_stale_entity_raises_concurrency_error(backend: Backend) -> None:
    """Updating from a copy read before another update raises ConcurrencyError and keeps
    the other update."""
    org = organization()
    await store(backend, org)
    async with backend.uow() as uow:
        await uow.organizations.update(attrs.evolve(org, name="First"))
        await uow.commit()

    with pytest.raises(ConcurrencyError):
        async with backend.uow() as uow:
            await uow.organizations.update(attrs.evolve(org, name="Second"))
            await uow.commit()

    found = await read(backend, lambda uow: uow.organizations.find_by_id(org.id))
    assert found is not None
    assert found.name == "First"


async def test_update_and_delete_of_an_unknown_id_raise_not_found(backend: Backend) -> None:
    """update and delete of an organization that was never stored raise NotFoundError."""
    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.organizations.update(organization())
    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.organizations.delete(OrganizationId(new_id()))


async def test_lock_returns_the_organization_and_refuses_missing_or_deleted_ones(
    backend: Backend,
) -> None:
    """lock gives the live organization; a missing or deleted one raises NotFoundError."""
    kept, gone = organization(settings=RICH_SETTINGS), organization()
    await store(backend, kept, gone)
    async with backend.uow() as uow:
        await uow.organizations.delete(gone.id)
        await uow.commit()

    async with backend.uow() as uow:
        assert attrs.asdict(await uow.organizations.lock(kept.id)) == attrs.asdict(kept)
        for missing in (gone.id, OrganizationId(new_id())):
            with pytest.raises(NotFoundError):
                await uow.organizations.lock(missing)


async def test_a_second_lock_waits_for_the_first_unit_and_reads_what_it_committed(
    backend: Backend,
) -> None:
    """While one unit holds the lock, another unit's lock does not return; once the first
    commits, it returns the organization as that unit left it."""
    org = organization()
    await store(backend, org)
    async with backend.uow() as first:
        locked = await first.organizations.lock(org.id)

        async def lock_after() -> str:
            async with backend.uow() as second:
                return (await second.organizations.lock(org.id)).name

        waiting = asyncio.create_task(lock_after())
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await first.organizations.update(attrs.evolve(locked, name="Renamed under the lock"))
        await first.commit()
    assert await asyncio.wait_for(waiting, timeout=30) == "Renamed under the lock"


async def test_a_check_made_under_the_organization_lock_holds_at_commit(backend: Backend) -> None:
    """Units that each lock the organization, find it without members and then add one,
    interleaved, leave exactly one member: the others see it once the lock is theirs."""
    org, people = organization(), [user() for _ in range(3)]
    await store(backend, org, *people)

    async def join_if_empty(person_id: UserId) -> None:
        async with backend.uow() as uow:
            await uow.organizations.lock(org.id)
            page = await uow.members.list_by_organization(org.id, PageRequest())
            await asyncio.sleep(0.01)  # let the other units interleave
            if not page.items:
                await uow.members.add(member(org.id, person_id))
            await uow.commit()

    await asyncio.gather(*(join_if_empty(p.id) for p in people))

    page = await read(backend, lambda uow: uow.members.list_by_organization(org.id, PageRequest()))
    assert len(page.items) == 1


async def test_the_lock_lets_other_units_add_rows_of_the_organization(backend: Backend) -> None:
    """While a unit holds the organization's lock, another unit can still add a member and
    a project to it and commit."""
    org, person = organization(), user()
    await store(backend, org, person)
    added = project(org.id)
    async with backend.uow() as holder:
        await holder.organizations.lock(org.id)
        await asyncio.wait_for(store(backend, member(org.id, person.id), added), timeout=30)
        await holder.commit()
    assert (await read(backend, lambda uow: uow.projects.find_by_id(added.id))) is not None


async def test_units_waiting_for_each_others_locks_are_a_deadlock(backend: Backend) -> None:
    """Two units that each lock one organization, then the other's, are a deadlock: one
    fails with ConcurrencyError and writes nothing, the other commits."""
    a, b = organization(), organization()
    await store(backend, a, b)
    both_locked = asyncio.Barrier(2)

    async def cross(first: Organization, second: Organization) -> None:
        async with backend.uow() as uow:
            await uow.organizations.lock(first.id)
            await both_locked.wait()
            await uow.organizations.lock(second.id)
            await uow.organizations.update(attrs.evolve(first, name=f"Won by {first.slug}"))
            await uow.commit()

    results = await asyncio.wait_for(
        asyncio.gather(cross(a, b), cross(b, a), return_exceptions=True), timeout=60
    )

    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], ConcurrencyError), results

    async def name_of(o: Organization) -> str:
        found = await read(backend, lambda uow: uow.organizations.find_by_id(o.id))
        assert found is not None
        return found.name

    names = [await name_of(o) for o in (a, b)]
    assert sorted(n.startswith("Won by") for n in names) == [False, True]


async def test_soft_deleted_organization_is_not_found_nor_listed(backend: Backend) -> None:
    """After delete, the organization is gone from lookups and lists; others remain."""
    kept, gone = organization(), organization()
    await store(backend, kept, gone)

    async with backend.uow() as uow:
        await uow.organizations.delete(gone.id)
        await uow.commit()

    assert await read(backend, lambda uow: uow.organizations.find_by_id(gone.id)) is None
    assert await read(backend, lambda uow: uow.organizations.find_by_slug(gone.slug)) is None
    listed = await read(backend, lambda uow: uow.organizations.list(PageRequest()))
    assert [o.id for o in listed] == [kept.id]


async def test_slug_of_a_soft_deleted_organization_stays_taken(backend: Backend) -> None:
    """A new organization cannot reuse the slug of a deleted one."""
    gone = organization()
    await store(backend, gone)
    async with backend.uow() as uow:
        await uow.organizations.delete(gone.id)
        await uow.commit()

    with pytest.raises(DuplicateError):
        await store(backend, organization(slug=gone.slug))


async def test_list_pages_through_every_sort_in_keyset_order(backend: Backend) -> None:
    """Listing yields every organization once, in (sort field, id) order, for each sort."""
    tag = token()
    minutes = [0, 0, 1, 2, 2, 3, 5]
    names = ["org3", "org1", "org2", "org2", "org5", "org4", "org1"]
    orgs = [
        organization(name=name, slug=f"s{tag}-{i:02d}", created_at=at(m), updated_at=at(m))
        for i, (m, name) in enumerate(zip(minutes, names, strict=True))
    ]
    await store(backend, *orgs)

    await assert_keyset_pagination(
        backend,
        list_organizations,
        orgs,
        {"created_at": lambda o: o.created_at, "name": lambda o: o.name, "slug": lambda o: o.slug},
        offered=ORGANIZATION_SORTS,
    )


async def test_list_rejects_foreign_and_garbage_cursors_and_unknown_sorts(backend: Backend) -> None:
    """A cursor of another sort or direction, a garbage cursor and an unknown sort raise
    ValidationError."""
    await store(backend, organization(), organization())

    await assert_rejects_bad_requests(backend, list_organizations, offered=ORGANIZATION_SORTS)


async def test_items_inserted_after_the_first_page_before_the_cursor_are_skipped(
    backend: Backend,
) -> None:
    """Organizations added mid-walk appear only if they sort after the cursor; nothing
    repeats."""
    orgs = [organization(name=f"org{i:02d}0") for i in range(1, 7)]
    await store(backend, *orgs)
    request = PageRequest(limit=3, sort="name")
    async with backend.uow() as uow:
        first = await uow.organizations.list(request)
    assert [o.name for o in first] == ["org010", "org020", "org030"]

    before, between, after = (organization(name=n) for n in ("org005", "org035", "org070"))
    await store(backend, before, between, after)
    rest = await walk(backend, list_organizations, limit=3, sort="name", cursor=first.next_cursor)

    names = [o.name for page in rest for o in page]
    assert names == ["org035", "org040", "org050", "org060", "org070"]
