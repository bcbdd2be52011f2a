"""Use cases of projects: create, update, archive, delete, look up, list and search."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import attrs

from application._boundary import service
from application._lookup import require_organization, require_project
from application.unchanged import UNCHANGED, Unchanged
from domain.enums import ProjectStatus, RepositoryType, Visibility
from domain.errors import ValidationError
from domain.events import ProjectArchived, ProjectCreated, ProjectDeleted, ProjectUpdated
from domain.ids import OrganizationId, ProjectId
from domain.projects import Project
from domain.validation import check_instance, check_int, check_text
from domain.values import ProjectMetadata, ProjectSettings
from ports.errors import ConcurrencyError, NotFoundError
from ports.pagination import Page, PageRequest
from ports.repositories import ProjectSearchFilters
from ports.unit_of_work import UnitOfWork

__all__ = [
    "MAX_SEARCH_LIMIT",
    "ProjectChanges",
    "archive_project",
    "create_project",
    "delete_project",
    "get_project",
    "get_project_by_slug",
    "list_projects",
    "modify_project",
    "search_projects",
    "update_project",
]

MAX_SEARCH_LIMIT = 100


@attrs.frozen(kw_only=True)
class ProjectChanges:
    """The changes :func:`modify_project` makes to a project: the fields that
    :func:`update_project` takes, each left at :data:`UNCHANGED` to keep its value."""

    name: str | Unchanged = UNCHANGED
    description: str | Unchanged | None = UNCHANGED
    default_branch: str | Unchanged = UNCHANGED
    visibility: Visibility | Unchanged = UNCHANGED
    settings: ProjectSettings | Unchanged = UNCHANGED
    metadata: ProjectMetadata | Unchanged = UNCHANGED
    repository_url: str | Unchanged = UNCHANGED


@service
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


@service
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
    is written and no event is raised. Returns the project as stored. The project is
    locked while it changes, so concurrent updates queue rather than fail.

    To change a project according to what it holds (add to a counter, edit part of its
    settings), use :func:`modify_project`, which reads and writes under the lock. A caller
    that must first show the project to someone and write later passes the ``updated_at``
    of the project it read as ``expected_updated_at``: if the project changed since,
    ConcurrencyError (read again and redo), never a lost update.
    """
    given = _given(
        ProjectChanges(
            name=name,
            description=description,
            default_branch=default_branch,
            visibility=visibility,
            settings=settings,
            metadata=metadata,
            repository_url=repository_url,
        )
    )
    async with uow:
        project = await uow.projects.lock(project_id)
        if expected_updated_at is not None and project.updated_at != expected_updated_at:
            raise ConcurrencyError(f"project {project_id} changed since it was read")
        updated = await _apply(uow, project, given)
    return updated


@service
async def modify_project(
    uow: UnitOfWork, project_id: ProjectId, change: Callable[[Project], ProjectChanges]
) -> Project:
    """Change a project atomically according to what it holds: ``change`` gets the project
    as it is, read under its lock, and returns the :class:`ProjectChanges` to make, which
    are written in the same unit of work (as :func:`update_project` writes them, with its
    ProjectUpdated event). Concurrent calls on one project queue on the lock, so none is
    lost and none fails for having read a project another call changed; e.g. a counter::

        def count_run(project: Project) -> ProjectChanges:
            meta = project.metadata
            return ProjectChanges(metadata=attrs.evolve(meta, total_files=meta.total_files + 1))

        await modify_project(uow, project_id, count_run)

    ``change`` runs once, while the lock is held: it must be quick and do no I/O. What it
    raises propagates and nothing is written; what it returns must be ProjectChanges with
    valid values (else ValidationError). Returns the project as stored; NotFoundError if
    it does not exist (or is deleted).
    """
    if not callable(change):
        raise ValidationError("change", change, "must be a function", entity="Project")
    async with uow:
        project = await uow.projects.lock(project_id)
        proposed = change(attrs.evolve(project))  # a copy: only what it returns is written
        changes = check_instance("change", proposed, ProjectChanges, entity="Project")
        updated = await _apply(uow, project, _given(changes))
    return updated


def _given(changes: ProjectChanges) -> dict[str, Any]:
    """The fields ``changes`` sets, their values checked where no validator of Project
    checks them."""
    given = {
        field.name: getattr(changes, field.name)
        for field in attrs.fields(ProjectChanges)
        if getattr(changes, field.name) is not UNCHANGED
    }
    if "settings" in given:
        _settings(given["settings"])
    if "metadata" in given:
        _metadata(given["metadata"])
    return given


async def _apply(uow: UnitOfWork, project: Project, given: dict[str, Any]) -> Project:
    """Write ``given`` to ``project`` (read under its lock) and commit, with a
    ProjectUpdated naming the fields whose value changed; when none did, write nothing."""
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


@service
async def archive_project(uow: UnitOfWork, project_id: ProjectId) -> Project:
    """Set a project's status to ARCHIVED (ProjectArchived); an archived project is
    returned as it is, with nothing written."""
    async with uow:
        project = await uow.projects.lock(project_id)
        if project.status is ProjectStatus.ARCHIVED:
            return project
        updated = await uow.projects.update(attrs.evolve(project, status=ProjectStatus.ARCHIVED))
        uow.add_event(
            ProjectArchived(project_id=project.id, organization_id=project.organization_id)
        )
        await uow.commit()
    return updated


@service
async def delete_project(uow: UnitOfWork, project_id: ProjectId) -> None:
    """Soft-delete a project (ProjectDeleted): lookups, lists and searches skip it after."""
    async with uow:
        project = await require_project(uow, project_id)
        await uow.projects.delete(project.id)
        uow.add_event(
            ProjectDeleted(project_id=project.id, organization_id=project.organization_id)
        )
        await uow.commit()


@service
async def get_project(uow: UnitOfWork, project_id: ProjectId) -> Project:
    """The project with that id; NotFoundError if it does not exist or was deleted."""
    async with uow:
        return await require_project(uow, project_id)


@service
async def get_project_by_slug(
    uow: UnitOfWork, organization_id: OrganizationId, slug: str
) -> Project:
    """The organization's project with that slug; NotFoundError if there is none."""
    async with uow:
        project = await uow.projects.find_by_slug(organization_id, slug)
    if project is None:
        raise NotFoundError("project", f"{organization_id}/{slug}")
    return project


@service
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


@service
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
    check_text("text", text)
    check_int("limit", limit, 1, MAX_SEARCH_LIMIT)
    filters = ProjectSearchFilters(
        organization_id=organization_id, status=status, visibility=visibility
    )
    async with uow:
        return await uow.projects.search(text, filters, limit=limit)


def _settings(value: Any) -> ProjectSettings:
    return check_instance("settings", value, ProjectSettings, entity="Project")


def _metadata(value: Any) -> ProjectMetadata:
    return check_instance("metadata", value, ProjectMetadata, entity="Project")
