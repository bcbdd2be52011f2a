"""Contract of OrganizationRepository: round trips, unique slugs, optimistic concurrency,
soft delete and keyset pagination."""

from __future__ import annotations

import attrs
import pytest

from domain.ids import OrganizationId, new_id
from domain.values import (
    AnalysisConfig,
    NotificationPreferences,
    OrganizationSettings,
    SecuritySettings,
    WebhookSettings,
)
from ports.errors import ConcurrencyError, DuplicateError, NotFoundError
from ports.pagination import PageRequest
from ports.repositories import ORGANIZATION_SORTS
from tests.contract.builders import at, fields_of, organization, read, store, token
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


def list_organizations(uow, request):
    return uow.organizations.list(request)


async def test_create_then_find_round_trips_every_field(backend):
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
    by_slug = await read(backend, lambda uow: uow.organizations.find_by_slug(org.slug))

    assert attrs.asdict(by_id) == attrs.asdict(org)
    assert attrs.asdict(by_slug) == attrs.asdict(org)


async def test_lookups_of_unknown_organizations_return_none(backend):
    """Finding an id or slug that was never stored returns None."""
    await store(backend, organization())

    assert await read(backend, lambda uow: uow.organizations.find_by_id(new_id())) is None
    assert await read(backend, lambda uow: uow.organizations.find_by_slug("nope")) is None


async def test_duplicate_slug_raises_duplicate_error(backend):
    """A second organization with a taken slug is refused and not stored."""
    first = organization()
    await store(backend, first)
    clash = organization(slug=first.slug)

    with pytest.raises(DuplicateError):
        await store(backend, clash)

    assert await read(backend, lambda uow: uow.organizations.find_by_id(clash.id)) is None


async def test_update_returns_the_stored_entity_with_a_newer_updated_at(backend):
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
    assert attrs.asdict(found) == attrs.asdict(updated)


async def test_update_with_a_stale_entity_raises_concurrency_error(backend):
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
    assert found.name == "First"


async def test_update_and_delete_of_an_unknown_id_raise_not_found(backend):
    """update and delete of an organization that was never stored raise NotFoundError."""
    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.organizations.update(organization())
    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.organizations.delete(OrganizationId(new_id()))


async def test_soft_deleted_organization_is_not_found_nor_listed(backend):
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


async def test_slug_of_a_soft_deleted_organization_stays_taken(backend):
    """A new organization cannot reuse the slug of a deleted one."""
    gone = organization()
    await store(backend, gone)
    async with backend.uow() as uow:
        await uow.organizations.delete(gone.id)
        await uow.commit()

    with pytest.raises(DuplicateError):
        await store(backend, organization(slug=gone.slug))


async def test_list_pages_through_every_sort_in_keyset_order(backend):
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


async def test_list_rejects_foreign_and_garbage_cursors_and_unknown_sorts(backend):
    """A cursor of another sort or direction, a garbage cursor and an unknown sort raise
    ValidationError."""
    await store(backend, organization(), organization())

    await assert_rejects_bad_requests(backend, list_organizations, offered=ORGANIZATION_SORTS)


async def test_items_inserted_after_the_first_page_before_the_cursor_are_skipped(backend):
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
