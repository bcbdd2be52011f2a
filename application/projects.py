"""Use cases of projects: create, update, archive, delete, look up, list and search."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from application._checks import instance_of, int_in_range, non_blank
from application._lookup import require_organization, require_project
from application.unchanged import UNCHANGED, Unchanged
from domain.enums import ProjectStatus, RepositoryType, Visibility
from domain.events import ProjectArchived, ProjectCreated, ProjectDeleted, ProjectUpdated
from domain.ids import OrganizationId, ProjectId
from domain.projects import Project
from domain.values import ProjectMetadata, ProjectSettings
from ports.errors import ConcurrencyError, NotFoundError
from ports.pagination import Page, PageRequest
from ports.repositories import ProjectSearchFilters
from ports.unit_of_work import UnitOfWork

__all__ = [
    "MAX_SEARCH_LIMIT",
    "archive_project",
    "create_project",
    "delete_project",
    "get_project",
    "get_project_by_slug",
    "list_projects",
    "search_projects",
    "update_project",
]

MAX_SEARCH_LIMIT = 100


async def create_project(
    uow: UnitOfWork,
    organization_id: OrganizationId,
    *,
    name: str,
    slug: str,
    repository_url: str,
    description: str | None = None,
    repository_type: RepositoryType = RepositoryType.GIT,
    default_branch: str = "main",
    visibility: Visibility = Visibility.PRIVATE,
    settings: ProjectSettings | None = None,
    metadata: ProjectMetadata | None = None,
) -> Project:
    """Create a project of an existing organization (ProjectCreated). A slug taken within
    the organization raises DuplicateError."""
    project = Project(
        organization_id=organization_id,
        name=name,
        slug=slug,
        description=description,
        repository_url=repository_url,
        repository_type=repository_type,
        default_branch=default_branch,
        visibility=visibility,
        settings=ProjectSettings() if settings is None else _settings(settings),
        metadata=ProjectMetadata() if metadata is None else _metadata(metadata),
    )
    async with uow:
        await require_organization(uow, organization_id)
        created = await uow.projects.create(project)
        uow.add_event(ProjectCreated(project_id=created.id, organization_id=organization_id))
        await uow.commit()
    return created


async def update_project(
    uow: UnitOfWork,
    project_id: ProjectId,
    *,
    name: str | Unchanged = UNCHANGED,
    description: str | Unchanged | None = UNCHANGED,
    default_branch: str | Unchanged = UNCHANGED,
    visibility: Visibility | Unchanged = UNCHANGED,
    settings: ProjectSettings | Unchanged = UNCHANGED,
    metadata: ProjectMetadata | Unchanged = UNCHANGED,
    repository_url: str | Unchanged = UNCHANGED,
    expected_updated_at: dt.datetime | None = None,
) -> Project:
    """Change the given fields of a project (arguments left at :data:`UNCHANGED` are kept).

    ProjectUpdated names the fields whose value actually changed; when none did, nothing
    is written and no event is raised. Returns the project as stored. A caller that
    computed the new values from a project it read passes that project's ``updated_at``
    as ``expected_updated_at``: if the project changed since, ConcurrencyError (retry the
    read and the update with :func:`~application.retry.with_retry`), never a lost update.
    """
    given: dict[str, Any] = {
        field: value
        for field, value in (
            ("name", name),
            ("description", description),
            ("default_branch", default_branch),
            ("visibility", visibility),
            ("settings", settings),
            ("metadata", metadata),
            ("repository_url", repository_url),
        )
        if value is not UNCHANGED
    }
    if "settings" in given:
        _settings(given["settings"])
    if "metadata" in given:
        _metadata(given["metadata"])
    async with uow:
        project = await require_project(uow, project_id)
        if expected_updated_at is not None and project.updated_at != expected_updated_at:
            raise ConcurrencyError(f"project {project_id} changed since it was read")
        candidate = attrs.evolve(project, **given)
        changed = tuple(f for f in given if getattr(candidate, f) != getattr(project, f))
        if not changed:
            return project
        updated = await uow.projects.update(candidate)
        uow.add_event(
            ProjectUpdated(
                project_id=project.id, organization_id=project.organization_id, changed=changed
            )
        )
        await uow.commit()
    return updated


async def archive_project(uow: UnitOfWork, project_id: ProjectId) -> Project:
    """Set a project's status to ARCHIVED (ProjectArchived); an archived project is
    returned as it is, with nothing written."""
    async with uow:
        project = await require_project(uow, project_id)
        if project.status is ProjectStatus.ARCHIVED:
            return project
        updated = await uow.projects.update(attrs.evolve(project, status=ProjectStatus.ARCHIVED))
        uow.add_event(
            ProjectArchived(project_id=project.id, organization_id=project.organization_id)
        )
        await uow.commit()
    return updated


async def delete_project(uow: UnitOfWork, project_id: ProjectId) -> None:
    """Soft-delete a project (ProjectDeleted): lookups, lists and searches skip it after."""
    async with uow:
        project = await require_project(uow, project_id)
        await uow.projects.delete(project.id)
        uow.add_event(
            ProjectDeleted(project_id=project.id, organization_id=project.organization_id)
        )
        await uow.commit()


async def get_project(uow: UnitOfWork, project_id: ProjectId) -> Project:
    """The project with that id; NotFoundError if it does not exist or was deleted."""
    async with uow:
        return await require_project(uow, project_id)


async def get_project_by_slug(
    uow: UnitOfWork, organization_id: OrganizationId, slug: str
) -> Project:
    """The organization's project with that slug; NotFoundError if there is none."""
    async with uow:
        project = await uow.projects.find_by_slug(organization_id, slug)
    if project is None:
        raise NotFoundError("project", f"{organization_id}/{slug}")
    return project


async def list_projects(
    uow: UnitOfWork,
    organization_id: OrganizationId,
    page: PageRequest | None = None,
    *,
    status: ProjectStatus | None = None,
) -> Page[Project]:
    """One keyset page of an organization's projects (the first 50 by default)."""
    async with uow:
        return await uow.projects.list_by_organization(
            organization_id, page or PageRequest(), status=status
        )


async def search_projects(
    uow: UnitOfWork,
    text: str,
    *,
    organization_id: OrganizationId | None = None,
    status: ProjectStatus | None = None,
    visibility: Visibility | None = None,
    limit: int = 20,
) -> list[Project]:
    """The projects best matching every word of ``text``, most relevant first."""
    non_blank("text", text)
    int_in_range("limit", limit, 1, MAX_SEARCH_LIMIT)
    filters = ProjectSearchFilters(
        organization_id=organization_id, status=status, visibility=visibility
    )
    async with uow:
        return await uow.projects.search(text, filters, limit=limit)


def _settings(value: Any) -> ProjectSettings:
    return instance_of("settings", value, ProjectSettings, entity="Project")


def _metadata(value: Any) -> ProjectMetadata:
    return instance_of("metadata", value, ProjectMetadata, entity="Project")
