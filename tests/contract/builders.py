"""Valid entities for the contract suites, and helpers that store and read them.

Each builder returns a valid entity whose natural keys (slugs, e-mails, usernames, paths,
rule ids) are unique; keyword arguments override any field. Timestamps default to the
entity's own defaults (now); tests that need an order pass them explicitly, usually as
``at(minutes)`` after the fixed instant :data:`T0`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import attrs

from domain.analysis import AnalysisJob, AnalysisResult, CodeMetric
from domain.enums import FileChange
from domain.files import FileHistoryEntry, FileIndex
from domain.ids import FileId, JobId, OrganizationId, ProjectId, RepositoryId, RuleId, UserId
from domain.organizations import Organization, OrganizationMember, User
from domain.projects import Project, Repository, RepositoryBranch
from domain.rules import ProjectRuleConfig, Rule
from ports.unit_of_work import UnitOfWork
from tests.contract.conftest import Backend

__all__ = [
    "T0",
    "Scaffold",
    "add",
    "analysis_job",
    "analysis_result",
    "at",
    "branch",
    "code_metric",
    "commit_hash",
    "fields_of",
    "file_hash",
    "file_index",
    "member",
    "organization",
    "project",
    "read",
    "repository",
    "rule",
    "rule_config",
    "scaffold",
    "store",
    "token",
    "user",
]

T = TypeVar("T")

T0 = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    """The instant ``minutes`` after :data:`T0` (before it when negative)."""
    return T0 + dt.timedelta(minutes=minutes)


def token() -> str:
    """A short unique lower-case token, usable in slugs, user names, paths and rule ids."""
    return uuid.uuid4().hex[:12]


def commit_hash(seed: object = None) -> str:
    """A 40-hex git commit hash, derived from ``seed`` (random when None)."""
    return hashlib.sha1(str(seed if seed is not None else uuid.uuid4()).encode()).hexdigest()


def file_hash(seed: object = None) -> str:
    """A 64-hex SHA-256 digest, derived from ``seed`` (random when None)."""
    return hashlib.sha256(str(seed if seed is not None else uuid.uuid4()).encode()).hexdigest()


def fields_of(entity: Any, *ignored: str) -> dict[str, Any]:
    """Every field of ``entity`` but ``ignored``, recursively as dicts. Entities compare by
    id, so tests compare these to check a round trip."""
    fields = attrs.asdict(entity)
    for name in ignored:
        del fields[name]
    return fields


def organization(**overrides: Any) -> Organization:
    slug = f"org-{token()}"
    return Organization(**{"name": f"Organization {slug}", "slug": slug, **overrides})


def user(**overrides: Any) -> User:
    name = f"user-{token()}"
    fields = {"email": f"{name}@example.com", "username": name, "password_hash": "argon2$hash"}
    return User(**{**fields, **overrides})


def member(
    organization_id: OrganizationId, user_id: UserId, **overrides: Any
) -> OrganizationMember:
    return OrganizationMember(organization_id=organization_id, user_id=user_id, **overrides)


def project(organization_id: OrganizationId, **overrides: Any) -> Project:
    slug = f"project-{token()}"
    fields = {
        "organization_id": organization_id,
        "name": f"Project {slug}",
        "slug": slug,
        "repository_url": f"https://git.example.com/{slug}.git",
    }
    return Project(**{**fields, **overrides})


def repository(project_id: ProjectId, **overrides: Any) -> Repository:
    name = token()
    fields = {
        "project_id": project_id,
        "local_path": f"/var/lib/codeant/repos/{name}",
        "remote_url": f"https://git.example.com/{name}.git",
        "default_branch": "main",
    }
    return Repository(**{**fields, **overrides})


def branch(repository_id: RepositoryId, name: str, **overrides: Any) -> RepositoryBranch:
    fields = {"repository_id": repository_id, "name": name, "commit_hash": commit_hash(name)}
    return RepositoryBranch(**{**fields, **overrides})


def file_index(repository_id: RepositoryId, **overrides: Any) -> FileIndex:
    path = overrides.pop("relative_path", f"src/module_{token()}.py")
    fields = {
        "repository_id": repository_id,
        "relative_path": path,
        "absolute_path": f"/var/lib/codeant/repos/{repository_id}/{path}",
        "language": "python",
        "size_bytes": 1200,
        "line_count": 40,
        "file_hash": file_hash(path),
        "last_modified": T0,
    }
    return FileIndex(**{**fields, **overrides})


def analysis_job(project_id: ProjectId, **overrides: Any) -> AnalysisJob:
    return AnalysisJob(project_id=project_id, **overrides)


def analysis_result(job_id: JobId, **overrides: Any) -> AnalysisResult:
    fields = {
        "job_id": job_id,
        "rule_id": "complex-function",
        "severity": "medium",
        "category": "complexity",
        "title": "Function is too complex",
        "description": "Cyclomatic complexity exceeds the threshold.",
    }
    return AnalysisResult(**{**fields, **overrides})


def code_metric(file_id: FileId, job_id: JobId, **overrides: Any) -> CodeMetric:
    fields = {
        "file_id": file_id,
        "job_id": job_id,
        "metric_type": "complexity",
        "metric_name": "cyclomatic",
        "value": 4.0,
    }
    return CodeMetric(**{**fields, **overrides})


def rule(**overrides: Any) -> Rule:
    fields = {
        "id": RuleId(f"rule-{token()}"),
        "name": "Complex function",
        "description": "Flags functions whose cyclomatic complexity is too high.",
        "category": "complexity",
        "languages": ("python",),
    }
    return Rule(**{**fields, **overrides})


def rule_config(project_id: ProjectId, rule_id: RuleId, **overrides: Any) -> ProjectRuleConfig:
    return ProjectRuleConfig(project_id=project_id, rule_id=rule_id, **overrides)


async def add(uow: UnitOfWork, entity: object) -> None:
    """Write ``entity`` with the port method that creates one of its kind."""
    match entity:
        case Organization():
            await uow.organizations.create(entity)
        case User():
            await uow.users.create(entity)
        case OrganizationMember():
            await uow.members.add(entity)
        case Project():
            await uow.projects.create(entity)
        case Repository():
            await uow.repositories.create(entity)
        case FileIndex():
            await uow.files.create(entity)
        case AnalysisJob():
            await uow.analysis.create_job(entity)
        case AnalysisResult():
            await analysed(uow, entity.job_id, entity.file_id)
            await uow.analysis.create_results([entity])
        case CodeMetric():
            await analysed(uow, entity.job_id, entity.file_id)
            await uow.analysis.create_metrics([entity])
        case FileHistoryEntry():
            await uow.files.record_history([entity])
        case Rule():
            await uow.rules.create(entity)
        case ProjectRuleConfig():
            await uow.rule_configs.upsert(entity)
        case _:
            raise TypeError(f"no creating port method for {type(entity).__name__}")


async def analysed(uow: UnitOfWork, job_id: JobId, file_id: FileId | None) -> None:
    """Record (unless it is) that the job analysed the file, as completing a job does for
    the files its results and metrics belong to: only then does the job hold them."""
    if file_id is None:
        return
    if any(e.job_id == job_id for e in await uow.files.history(file_id)):
        return
    file = await uow.files.find_by_id(file_id)
    assert file is not None, f"store the file {file_id} before what belongs to it"
    entry = FileHistoryEntry(
        file_id=file_id,
        job_id=job_id,
        change=FileChange.ANALYSED,
        relative_path=file.relative_path,
        file_hash=file.file_hash,
    )
    await uow.files.record_history([entry])


async def store(backend: Backend, *entities: object) -> None:
    """Write ``entities`` in order (parents first) in one unit of work, and commit it."""
    async with backend.uow() as uow:
        for entity in entities:
            await add(uow, entity)
        await uow.commit()


async def read(backend: Backend, query: Callable[[UnitOfWork], Awaitable[T]]) -> T:
    """Run ``query`` in a fresh unit of work (left without commit) and return its answer."""
    async with backend.uow() as uow:
        return await query(uow)


@attrs.frozen
class Scaffold:
    """An organization, one of its projects and a repository of that project."""

    organization: Organization
    project: Project
    repository: Repository


async def scaffold(backend: Backend) -> Scaffold:
    """Store and return a fresh organization, project and repository."""
    org = organization()
    proj = project(org.id)
    repo = repository(proj.id)
    await store(backend, org, proj, repo)
    return Scaffold(org, proj, repo)
