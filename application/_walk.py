"""Reading whole keyset-paged lists: every organization, every project of one, every file
of a repository, every result a job holds. Each call runs inside the caller's unit of work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from domain.analysis import AnalysisResult
from domain.enums import AnalysisStatus, Category
from domain.files import FileIndex
from domain.ids import JobId
from domain.organizations import Organization
from domain.projects import Project, Repository
from ports.errors import NotFoundError
from ports.pagination import Page, PageRequest
from ports.unit_of_work import UnitOfWork

__all__ = ["every_file", "every_organization", "every_project", "every_result"]

T = TypeVar("T")


async def _walk(fetch: Callable[[PageRequest], Awaitable[Page[T]]]) -> list[T]:
    items: list[T] = []
    cursor = None
    while True:
        page = await fetch(PageRequest(limit=1000, cursor=cursor))
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items


async def every_organization(uow: UnitOfWork, slug: str | None = None) -> list[Organization]:
    """The live organizations by creation (only ``slug``'s, which must exist, if given)."""
    if slug is not None:
        found = await uow.organizations.find_by_slug(slug)
        if found is None:
            raise NotFoundError("organization", slug)
        return [found]
    return await _walk(uow.organizations.list)


async def every_project(uow: UnitOfWork, organization: Organization) -> list[Project]:
    """The organization's live projects by creation."""
    return await _walk(lambda page: uow.projects.list_by_organization(organization.id, page))


async def every_file(
    uow: UnitOfWork, repository: Repository, *, deleted: bool = False
) -> list[FileIndex]:
    """The repository's indexed files by path (its removed ones with ``deleted``)."""
    status = AnalysisStatus.DELETED if deleted else None
    return await _walk(
        lambda page: uow.files.list_by_repository(repository.id, page, status=status)
    )


async def every_result(
    uow: UnitOfWork, job_id: JobId, *, category: Category | None = None
) -> list[AnalysisResult]:
    """The results the job holds (of ``category`` only, if given)."""
    return await _walk(
        lambda page: uow.analysis.find_results_by_job(job_id, page, category=category)
    )
