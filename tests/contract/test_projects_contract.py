"""Contract of ProjectRepository: round trips, slugs unique per organization (deleted projects
included), optimistic concurrency, soft delete, keyset pagination and text search."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import attrs
import pytest

from domain.enums import JobStatus, ProgrammingLanguage, ProjectStatus, Visibility
from domain.ids import OrganizationId, ProjectId, new_id
from domain.projects import Project
from domain.values import (
    AnalysisConfig,
    CommitInfo,
    LanguageStats,
    ProjectMetadata,
    ProjectSettings,
)
from ports.errors import ConcurrencyError, DuplicateError, NotFoundError
from ports.pagination import Page, PageRequest
from ports.repositories import PROJECT_SORTS, ProjectSearchFilters
from ports.unit_of_work import UnitOfWork
from tests.contract.builders import (
    analysis_job,
    at,
    commit_hash,
    fields_of,
    organization,
    project,
    read,
    scaffold,
    store,
    token,
)
from tests.contract.conftest import Backend
from tests.contract.paging import assert_keyset_pagination, assert_rejects_bad_requests

RICH_SETTINGS = ProjectSettings(
    analysis=AnalysisConfig(categories=("security",), min_severity="medium"),
    auto_analyze_on_push=False,
    analyze_branches=("main", "release/*"),
    quality_gate_min_score=72.5,
)
RICH_METADATA = ProjectMetadata(
    languages={
        ProgrammingLanguage.PYTHON: LanguageStats(
            file_count=12, line_count=3400, size_bytes=120_000
        ),
        ProgrammingLanguage.RUST: LanguageStats(file_count=3, line_count=800, size_bytes=30_000),
    },
    total_files=15,
    total_lines=4200,
    repository_size=150_000,
    last_commit=CommitInfo(
        hash=commit_hash("head"), author="Ada", message="Fix parser", committed_at=at(-60)
    ),
    quality_score=81.25,
    technical_debt_hours=12.5,
)


async def delete_project(backend: Backend, project_id: ProjectId) -> None:
    async with backend.uow() as uow:
        await uow.projects.delete(project_id)
        await uow.commit()


async def search(
    backend: Backend,
    text: str,
    filters: ProjectSearchFilters | None = None,
    *,
    limit: int = 20,
) -> list[Project]:
    return await read(backend, lambda uow: uow.projects.search(text, filters, limit=limit))


async def test_create_then_find_round_trips_every_field(backend: Backend) -> None:
    """A project reads back by id and by slug with every field, settings and metadata
    included."""
    org = organization()
    proj = project(
        org.id,
        description="Payments backend",
        repository_type="mercurial",
        default_branch="trunk",
        visibility="internal",
        status="inactive",
        settings=RICH_SETTINGS,
        metadata=RICH_METADATA,
        created_at=at(0),
        updated_at=at(1),
        last_analyzed_at=at(2),
    )
    await store(backend, org, proj)

    by_id = await read(backend, lambda uow: uow.projects.find_by_id(proj.id))
    assert by_id is not None
    by_slug = await read(backend, lambda uow: uow.projects.find_by_slug(org.id, proj.slug))
    assert by_slug is not None

    assert attrs.asdict(by_id) == attrs.asdict(proj)
    assert attrs.asdict(by_slug) == attrs.asdict(proj)


async def test_find_by_slug_is_scoped_to_the_organization(backend: Backend) -> None:
    """The same slug in two organizations names two projects; an unknown slug finds None."""
    first, second = organization(), organization()
    mine, theirs = project(first.id, slug="api"), project(second.id, slug="api")
    await store(backend, first, second, mine, theirs)

    assert (await read(backend, lambda uow: uow.projects.find_by_slug(first.id, "api"))) == mine
    assert (await read(backend, lambda uow: uow.projects.find_by_slug(second.id, "api"))) == theirs
    assert await read(backend, lambda uow: uow.projects.find_by_slug(first.id, "web")) is None
    assert await read(backend, lambda uow: uow.projects.find_by_id(ProjectId(new_id()))) is None


async def test_duplicate_slug_in_the_organization_raises_duplicate_error(backend: Backend) -> None:
    """A second project with a slug taken in its organization is refused and not stored."""
    org = organization()
    first = project(org.id)
    await store(backend, org, first)
    clash = project(org.id, slug=first.slug)

    with pytest.raises(DuplicateError):
        await store(backend, clash)

    assert await read(backend, lambda uow: uow.projects.find_by_id(clash.id)) is None


async def test_slug_of_a_soft_deleted_project_stays_taken(backend: Backend) -> None:
    """A new project cannot reuse the slug of a deleted project of its organization."""
    org = organization()
    gone = project(org.id)
    await store(backend, org, gone)
    await delete_project(backend, gone.id)

    with pytest.raises(DuplicateError):
        await store(backend, project(org.id, slug=gone.slug))


async def test_project_of_an_unknown_organization_raises_not_found(backend: Backend) -> None:
    """Creating a project needs its organization to exist."""
    orphan = project(OrganizationId(new_id()))

    with pytest.raises(NotFoundError):
        await store(backend, orphan)

    assert await read(backend, lambda uow: uow.projects.find_by_id(orphan.id)) is None


async def test_update_returns_the_stored_entity_with_a_newer_updated_at(backend: Backend) -> None:
    """update stores the changes and returns them with an updated_at later than before."""
    org = organization()
    proj = project(org.id, created_at=at(0), updated_at=at(0))
    await store(backend, org, proj)
    changed = attrs.evolve(
        proj, name="Renamed", status="archived", settings=RICH_SETTINGS, metadata=RICH_METADATA
    )

    async with backend.uow() as uow:
        updated = await uow.projects.update(changed)
        await uow.commit()

    assert updated.updated_at > proj.updated_at
    assert fields_of(updated, "updated_at") == fields_of(changed, "updated_at")
    found = await read(backend, lambda uow: uow.projects.find_by_id(proj.id))
    assert found is not None
    assert attrs.asdict(found) == attrs.asdict(updated)


async def test_update_with_a_stale_entity_raises_concurrency_error(backend: Backend) -> None:
    """Updating from a copy read before another update raises ConcurrencyError."""
    org = organization()
    proj = project(org.id)
    await store(backend, org, proj)
    async with backend.uow() as uow:
        await uow.projects.update(attrs.evolve(proj, name="First"))
        await uow.commit()

    with pytest.raises(ConcurrencyError):
        async with backend.uow() as uow:
            await uow.projects.update(attrs.evolve(proj, name="Second"))
            await uow.commit()

    found = await read(backend, lambda uow: uow.projects.find_by_id(proj.id))
    assert found is not None
    assert found.name == "First"


async def test_update_and_delete_of_an_unknown_id_raise_not_found(backend: Backend) -> None:
    """update and delete of a project that was never stored raise NotFoundError."""
    org = organization()
    await store(backend, org)

    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.projects.update(project(org.id))
    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.projects.delete(ProjectId(new_id()))


async def test_soft_deleted_project_is_not_found_listed_nor_searched(backend: Backend) -> None:
    """After delete, the project is gone from lookups, lists and searches."""
    org = organization()
    kept = project(org.id, name="Ledger service")
    gone = project(org.id, name="Ledger archive")
    await store(backend, org, kept, gone)
    await delete_project(backend, gone.id)

    assert await read(backend, lambda uow: uow.projects.find_by_id(gone.id)) is None
    assert await read(backend, lambda uow: uow.projects.find_by_slug(org.id, gone.slug)) is None
    listed = await read(
        backend, lambda uow: uow.projects.list_by_organization(org.id, PageRequest())
    )
    assert [p.id for p in listed] == [kept.id]
    assert [p.id for p in await search(backend, "ledger")] == [kept.id]


async def test_list_by_organization_filters_by_status(backend: Backend) -> None:
    """Listing with a status returns only the organization's projects in that status."""
    org, other = organization(), organization()
    active = project(org.id, status="active")
    archived = [project(org.id, status="archived") for _ in range(2)]
    await store(backend, org, other, active, *archived, project(other.id, status="archived"))

    listed = await read(
        backend,
        lambda uow: uow.projects.list_by_organization(
            org.id, PageRequest(), status=ProjectStatus.ARCHIVED
        ),
    )

    assert {p.id for p in listed} == {p.id for p in archived}


async def test_list_by_organization_pages_through_every_sort_in_keyset_order(
    backend: Backend,
) -> None:
    """Listing yields each of the organization's projects once, in (sort field, id) order,
    for each sort."""
    org, other = organization(), organization()
    tag = token()
    created = [0, 0, 1, 3, 3, 4, 2]
    updated = [5, 1, 1, 3, 9, 9, 2]
    names = ["beta", "alpha", "beta", "gamma", "alpha", "delta", "beta"]
    projects = [
        project(org.id, name=n, slug=f"p{tag}-{i:02d}", created_at=at(c), updated_at=at(u))
        for i, (c, u, n) in enumerate(zip(created, updated, names, strict=True))
    ]
    await store(backend, org, other, *projects, project(other.id))

    def fetch(uow: UnitOfWork, request: PageRequest) -> Awaitable[Page[Project]]:
        return uow.projects.list_by_organization(org.id, request)

    await assert_keyset_pagination(
        backend,
        fetch,
        projects,
        {
            "created_at": lambda p: p.created_at,
            "updated_at": lambda p: p.updated_at,
            "name": lambda p: p.name,
            "slug": lambda p: p.slug,
        },
        offered=PROJECT_SORTS,
    )
    await assert_rejects_bad_requests(backend, fetch, offered=PROJECT_SORTS)


async def test_search_matches_every_word_against_name_slug_and_description(
    backend: Backend,
) -> None:
    """A project matches when each word of the query occurs in its name, slug or
    description."""
    org = organization()
    gateway = project(org.id, name="Payment gateway", description="Stripe integration")
    reports = project(org.id, name="Payment reports", slug="ledger-exports")
    billing = project(org.id, name="Invoices", slug="billing-core")
    await store(backend, org, gateway, reports, billing)

    assert {p.id for p in await search(backend, "payment")} == {gateway.id, reports.id}
    assert [p.id for p in await search(backend, "payment stripe")] == [gateway.id]
    assert [p.id for p in await search(backend, "ledger")] == [reports.id]
    assert [p.id for p in await search(backend, "billing")] == [billing.id]
    assert [p.id for p in await search(backend, "billing-core")] == [billing.id]
    assert [p.id for p in await search(backend, "ledger-exports")] == [reports.id]
    assert await search(backend, "payment billing") == []


async def test_search_honours_filters_and_limit(backend: Backend) -> None:
    """Search returns only projects matching every filter, and at most limit of them."""
    first, second = organization(), organization()
    public = project(first.id, name="Search engine", visibility="public")
    private = project(first.id, name="Search index", visibility="private", status="archived")
    elsewhere = project(second.id, name="Search tools", visibility="public")
    await store(backend, first, second, public, private, elsewhere)

    in_first = ProjectSearchFilters(organization_id=first.id)
    assert {p.id for p in await search(backend, "search", in_first)} == {public.id, private.id}
    by_visibility = ProjectSearchFilters(visibility=Visibility.PUBLIC)
    assert {p.id for p in await search(backend, "search", by_visibility)} == {
        public.id,
        elsewhere.id,
    }
    archived_in_first = ProjectSearchFilters(
        organization_id=first.id, status=ProjectStatus.ARCHIVED
    )
    assert [p.id for p in await search(backend, "search", archived_in_first)] == [private.id]
    assert len(await search(backend, "search", limit=2)) == 2


async def test_lock_returns_the_project_and_refuses_missing_or_deleted_ones(
    backend: Backend,
) -> None:
    """lock gives the live project; a missing or deleted one raises NotFoundError."""
    base = await scaffold(backend)
    gone = project(base.organization.id)
    await store(backend, gone)
    async with backend.uow() as uow:
        await uow.projects.delete(gone.id)
        await uow.commit()

    async with backend.uow() as uow:
        assert (await uow.projects.lock(base.project.id)).id == base.project.id
        for missing in (gone.id, ProjectId(new_id())):
            with pytest.raises(NotFoundError):
                await uow.projects.lock(missing)


async def test_a_check_made_under_the_project_lock_holds_at_commit(backend: Backend) -> None:
    """Two units that each lock the project, check that it has no running job and then
    start one: whatever their interleaving, exactly one job is started."""
    base = await scaffold(backend)

    async def start_unless_running() -> None:
        async with backend.uow() as uow:
            await uow.projects.lock(base.project.id)
            page = await uow.analysis.list_jobs(
                base.project.id, PageRequest(), status=JobStatus.RUNNING
            )
            await asyncio.sleep(0.01)  # let the other unit interleave
            if not page.items:
                job = analysis_job(base.project.id)
                job.start()
                await uow.analysis.create_job(job)
            await uow.commit()

    await asyncio.gather(*(start_unless_running() for _ in range(2)))

    page = await read(
        backend,
        lambda uow: uow.analysis.list_jobs(
            base.project.id, PageRequest(), status=JobStatus.RUNNING
        ),
    )
    assert len(page.items) == 1


async def test_changes_computed_under_the_project_lock_are_never_lost(backend: Backend) -> None:
    """Twenty interleaved units that each lock the project and add one to a counter of its
    metadata all commit, without a retry, and the counter ends at twenty."""
    base = await scaffold(backend)

    async def increment() -> None:
        async with backend.uow() as uow:
            current = await uow.projects.lock(base.project.id)
            await asyncio.sleep(0)  # let the other units interleave
            counted = attrs.evolve(current.metadata, total_files=current.metadata.total_files + 1)
            await uow.projects.update(attrs.evolve(current, metadata=counted))
            await uow.commit()

    await asyncio.gather(*(increment() for _ in range(20)))

    found = await read(backend, lambda uow: uow.projects.find_by_id(base.project.id))
    assert found is not None
    assert found.metadata.total_files == 20
