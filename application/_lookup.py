"""Reads that every use case needs: load an entity or raise NotFoundError naming it."""

from __future__ import annotations

from typing import TypeVar

from domain.analysis import AnalysisJob
from domain.ids import JobId, OrganizationId, ProjectId, RepositoryId, RuleId, UserId
from domain.organizations import Organization, User
from domain.projects import Project, Repository
from domain.rules import Rule
from ports.errors import NotFoundError
from ports.unit_of_work import UnitOfWork

T = TypeVar("T")

__all__ = [
    "require_job",
    "require_organization",
    "require_project",
    "require_repository",
    "require_rule",
    "require_user",
]


def _present(found: T | None, entity: str, key: object) -> T:
    if found is None:
        raise NotFoundError(entity, key)
    return found


async def require_organization(uow: UnitOfWork, id: OrganizationId) -> Organization:
    return _present(await uow.organizations.find_by_id(id), "organization", id)


async def require_user(uow: UnitOfWork, id: UserId) -> User:
    return _present(await uow.users.find_by_id(id), "user", id)


async def require_project(uow: UnitOfWork, id: ProjectId) -> Project:
    return _present(await uow.projects.find_by_id(id), "project", id)


async def require_repository(uow: UnitOfWork, id: RepositoryId) -> Repository:
    return _present(await uow.repositories.find_by_id(id), "repository", id)


async def require_job(uow: UnitOfWork, id: JobId) -> AnalysisJob:
    return _present(await uow.analysis.find_job_by_id(id), "analysis job", id)


async def require_rule(uow: UnitOfWork, id: RuleId) -> Rule:
    return _present(await uow.rules.find_by_id(id), "rule", id)
