"""Project services, against the in-memory store."""

from __future__ import annotations

from typing import Any, cast

import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application import (
    archive_project,
    create_project,
    delete_project,
    get_project,
    get_project_by_slug,
    list_projects,
    search_projects,
    update_project,
)
from domain.enums import ProjectStatus, Visibility
from domain.errors import ValidationError
from domain.events import ProjectArchived, ProjectCreated, ProjectDeleted, ProjectUpdated
from domain.ids import OrganizationId, ProjectId, new_id
from domain.projects import Project
from domain.values import ProjectSettings
from ports.errors import ConcurrencyError, DuplicateError, NotFoundError
from ports.pagination import PageRequest
from tests.unit.fakes import Committed, Events


async def _read(db: MemoryDatabase, project_id: ProjectId) -> Project | None:
    async with MemoryUnitOfWork(db, system=True) as fresh:
        return await fresh.projects.find_by_id(project_id)


async def test_create_project_stores_it_and_announces_it(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project, events: Events
) -> None:
    """A created project reads back with its fields, and ProjectCreated follows commit."""
    created = await create_project(
        uow,
        project.organization_id,
        name="Web app",
        slug="web-app",
        repository_url="https://git.example.com/acme/web.git",
        visibility=Visibility.INTERNAL,
    )
    stored = await _read(db, created.id)
    assert stored is not None
    assert (stored.name, stored.slug, stored.visibility) == ("Web app", "web-app", "internal")
    last = (await events())[-1]
    assert isinstance(last, ProjectCreated)
    assert (last.project_id, last.organization_id) == (created.id, project.organization_id)


async def test_create_project_rejects_a_bad_name_and_writes_nothing(
    uow: MemoryUnitOfWork, project: Project, committed: Committed
) -> None:
    """An empty name raises ValidationError on ``name`` before anything is written."""
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await create_project(
            uow, project.organization_id, name=" ", slug="x", repository_url="https://x"
        )
    assert caught.value.field == "name"
    assert committed() == before


async def test_create_project_needs_an_existing_organization(
    uow: MemoryUnitOfWork, committed: Committed
) -> None:
    """A project of an unknown organization raises NotFoundError naming the organization."""
    before = committed()
    with pytest.raises(NotFoundError) as caught:
        await create_project(
            uow, OrganizationId(new_id()), name="X", slug="x", repository_url="https://x"
        )
    assert caught.value.entity == "organization"
    assert committed() == before


async def test_create_project_refuses_a_slug_taken_in_the_organization(
    uow: MemoryUnitOfWork, project: Project, committed: Committed
) -> None:
    """A second project with the same slug in one organization raises DuplicateError."""
    before = committed()
    with pytest.raises(DuplicateError):
        await create_project(
            uow, project.organization_id, name="X", slug=project.slug, repository_url="https://x"
        )
    assert committed() == before


async def test_update_project_announces_only_the_fields_that_changed(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project, events: Events
) -> None:
    """ProjectUpdated lists the fields whose value changed, not those given unchanged."""
    updated = await update_project(
        uow,
        project.id,
        name="Billing",
        description=project.description,  # same value: not a change
        visibility="public",  # type: ignore[arg-type]
    )
    assert updated.name == "Billing" and updated.visibility is Visibility.PUBLIC
    stored = await _read(db, project.id)
    assert stored is not None and stored.name == "Billing"
    assert stored.description == project.description
    [event] = await events()
    assert isinstance(event, ProjectUpdated)
    assert event.changed == ("name", "visibility")


async def test_update_project_can_clear_an_optional_field(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project
) -> None:
    """None is a value (clear the description), unlike leaving the argument out."""
    await update_project(uow, project.id, description=None)
    stored = await _read(db, project.id)
    assert stored is not None and stored.description is None
    assert stored.name == project.name


async def test_update_project_without_changes_writes_nothing(
    uow: MemoryUnitOfWork, project: Project, committed: Committed
) -> None:
    """Arguments equal to the stored values write nothing and raise no event."""
    before = committed()
    result = await update_project(uow, project.id, name=project.name)
    assert result.name == project.name
    assert committed() == before


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"default_branch": "x" * 101}, "default_branch"),
        ({"visibility": "secret"}, "visibility"),
        ({"settings": {"auto_analyze_on_push": False}}, "settings"),
    ],
)
async def test_update_project_rejects_bad_values(
    uow: MemoryUnitOfWork,
    project: Project,
    committed: Committed,
    changes: dict[str, Any],
    field: str,
) -> None:
    """A bad value raises ValidationError naming the field, and nothing is written."""
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await update_project(uow, project.id, **changes)
    assert caught.value.field == field
    assert committed() == before


async def test_update_project_stores_new_settings(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project, events: Events
) -> None:
    """New settings are stored and announced as a change of ``settings``."""
    settings = ProjectSettings(auto_analyze_on_push=False, analyze_branches=("main",))
    await update_project(uow, project.id, settings=settings)
    stored = await _read(db, project.id)
    assert stored is not None and stored.settings == settings
    assert [cast(ProjectUpdated, e).changed for e in await events()] == [("settings",)]


async def test_update_of_a_missing_project_raises_not_found(uow: MemoryUnitOfWork) -> None:
    """Updating an unknown project raises NotFoundError."""
    with pytest.raises(NotFoundError):
        await update_project(uow, ProjectId(new_id()), name="X")


async def test_archive_project_sets_the_status_once(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project, events: Events
) -> None:
    """Archiving sets ARCHIVED with ProjectArchived; archiving again changes nothing."""
    await archive_project(uow, project.id)
    await archive_project(uow, project.id)
    stored = await _read(db, project.id)
    assert stored is not None and stored.status is ProjectStatus.ARCHIVED
    assert [type(e) for e in await events()] == [ProjectArchived]


async def test_delete_project_is_soft_and_hides_the_project(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project, events: Events
) -> None:
    """A deleted project is no longer found by id, slug, list or search (ProjectDeleted)."""
    await delete_project(uow, project.id)
    with pytest.raises(NotFoundError):
        await get_project(uow, project.id)
    with pytest.raises(NotFoundError):
        await get_project_by_slug(uow, project.organization_id, project.slug)
    assert len(await list_projects(uow, project.organization_id)) == 0
    assert await search_projects(uow, "billing") == []
    assert db.row_count()["projects"] == 1  # the row stays, marked deleted
    [event] = await events()
    assert isinstance(event, ProjectDeleted) and event.project_id == project.id


async def test_get_project_reads_by_id_and_slug(uow: MemoryUnitOfWork, project: Project) -> None:
    """The project is found both by its id and by its organization and slug."""
    assert (await get_project(uow, project.id)).id == project.id
    assert (await get_project_by_slug(uow, project.organization_id, "billing")).id == project.id


async def test_list_projects_pages_by_keyset(uow: MemoryUnitOfWork, project: Project) -> None:
    """Pages of two follow each other without repeats until the cursor runs out."""
    for n in range(4):
        await create_project(
            uow,
            project.organization_id,
            name=f"Service {n}",
            slug=f"service-{n}",
            repository_url=f"https://git.example.com/s{n}.git",
        )
    seen: list[str] = []
    request = PageRequest(limit=2, sort="slug")
    while True:
        page = await list_projects(uow, project.organization_id, request)
        seen.extend(p.slug for p in page)
        if page.next_cursor is None:
            break
        request = PageRequest(limit=2, sort="slug", cursor=page.next_cursor)
    assert seen == ["billing", "service-0", "service-1", "service-2", "service-3"]


async def test_search_projects_matches_words_of_the_description(
    uow: MemoryUnitOfWork, project: Project
) -> None:
    """Searching a word of the description finds the project."""
    found = await search_projects(uow, "payments", organization_id=project.organization_id)
    assert [p.id for p in found] == [project.id]


async def test_search_projects_rejects_empty_text(uow: MemoryUnitOfWork) -> None:
    """A blank search text raises ValidationError on ``text``."""
    with pytest.raises(ValidationError) as caught:
        await search_projects(uow, "   ")
    assert caught.value.field == "text"


async def test_update_with_a_stale_expected_version_is_refused(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project
) -> None:
    """A read-modify-write that passes the updated_at it read is refused with
    ConcurrencyError once someone else changed the project, and writes nothing."""
    read_at = project.updated_at
    await update_project(uow, project.id, name="Changed meanwhile")

    with pytest.raises(ConcurrencyError):
        await update_project(uow, project.id, name="From a stale read", expected_updated_at=read_at)

    refused = await _read(db, project.id)
    assert refused is not None
    assert refused.name == "Changed meanwhile"
    reread = await _read(db, project.id)
    assert reread is not None
    current = reread.updated_at
    done = await update_project(uow, project.id, name="Fresh", expected_updated_at=current)
    assert done.name == "Fresh"
