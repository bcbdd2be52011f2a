"""Reads that every use case needs: load an entity or raise NotFoundError naming it."""

from __future__ import annotations

from domain.analysis import AnalysisJob
from domain.ids import JobId, OrganizationId, ProjectId, RepositoryId, RuleId, UserId
from domain.organizations import Organization, User
from domain.projects import Project, Repository
from domain.rules import Rule
from ports.errors import NotFoundError
from ports.unit_of_work import UnitOfWork

__all__ = [
    "require_job",
    "require_organization",
    "require_project",
    "require_repository",
    "require_rule",
    "require_user",
]


async def require_organization(uow: UnitOfWork, id: OrganizationId) -> Organization:
    found = await uow.organizations.find_by_id(id)
    if found is None:
        raise NotFoundError("Organization", id)
    return found


async def require_user(uow: UnitOfWork, id: UserId) -> User:
    found = await uow.users.find_by_id(id)
    if found is None:
        raise NotFoundError("User", id)
    return found


async def require_project(uow: UnitOfWork, id: ProjectId) -> Project:
    found = await uow.projects.find_by_id(id)
    if found is None:
        raise NotFoundError("Project", id)
    return found


async def require_repository(uow: UnitOfWork, id: RepositoryId) -> Repository:
    found = await uow.repositories.find_by_id(id)
    if found is None:
        raise NotFoundError("Repository", id)
    return found


async def require_job(uow: UnitOfWork, id: JobId) -> AnalysisJob:
    found = await uow.analysis.find_job_by_id(id)
    if found is None:
        raise NotFoundError("AnalysisJob", id)
    return found


async def require_rule(uow: UnitOfWork, id: RuleId) -> Rule:
    found = await uow.rules.find_by_id(id)
    if found is None:
        raise NotFoundError("Rule", id)
    return found
