"""Domain events. A unit of work collects them and writes them to the outbox in the same
transaction as the change they describe; handlers (cache invalidation, vector indexing)
run after commit."""

from __future__ import annotations

import datetime as dt

import attrs

from domain._base import utc_now
from domain.enums import JobStatus, MemberRole
from domain.ids import (
    EventId,
    FileId,
    JobId,
    OrganizationId,
    ProjectId,
    RepositoryId,
    RuleId,
    UserId,
    new_id,
)

__all__ = [
    "EVENT_TYPES",
    "AnalysisCompleted",
    "AnalysisFailed",
    "AnalysisStarted",
    "ConfigurationChanged",
    "DomainEvent",
    "FileChanged",
    "FileIndexSnapshotRecorded",
    "MemberAdded",
    "MemberRemoved",
    "OrganizationRegistered",
    "ProjectArchived",
    "ProjectCreated",
    "ProjectDeleted",
    "ProjectUpdated",
    "RepositoryRegistered",
    "RepositorySynced",
    "RuleChanged",
]


@attrs.frozen(kw_only=True)
class DomainEvent:
    event_id: EventId = attrs.field(factory=lambda: EventId(new_id()))
    occurred_at: dt.datetime = attrs.field(factory=utc_now)

    @property
    def name(self) -> str:
        return type(self).__name__


@attrs.frozen(kw_only=True)
class OrganizationRegistered(DomainEvent):
    organization_id: OrganizationId
    slug: str


@attrs.frozen(kw_only=True)
class MemberAdded(DomainEvent):
    organization_id: OrganizationId
    user_id: UserId
    role: MemberRole


@attrs.frozen(kw_only=True)
class MemberRemoved(DomainEvent):
    organization_id: OrganizationId
    user_id: UserId


@attrs.frozen(kw_only=True)
class ProjectCreated(DomainEvent):
    project_id: ProjectId
    organization_id: OrganizationId


@attrs.frozen(kw_only=True)
class ProjectUpdated(DomainEvent):
    project_id: ProjectId
    organization_id: OrganizationId
    changed: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class ProjectArchived(DomainEvent):
    project_id: ProjectId
    organization_id: OrganizationId


@attrs.frozen(kw_only=True)
class ProjectDeleted(DomainEvent):
    project_id: ProjectId
    organization_id: OrganizationId


@attrs.frozen(kw_only=True)
class RepositoryRegistered(DomainEvent):
    repository_id: RepositoryId
    project_id: ProjectId


@attrs.frozen(kw_only=True)
class RepositorySynced(DomainEvent):
    repository_id: RepositoryId
    project_id: ProjectId
    commit: str | None
    branches: int


@attrs.frozen(kw_only=True)
class FileChanged(DomainEvent):
    """A known file was modified, renamed, restored or removed (new files have nothing
    cached to invalidate)."""

    file_id: FileId
    repository_id: RepositoryId
    project_id: ProjectId
    relative_path: str
    change: str  # "modified" | "renamed" | "restored" | "removed"


@attrs.frozen(kw_only=True)
class FileIndexSnapshotRecorded(DomainEvent):
    repository_id: RepositoryId
    project_id: ProjectId
    added: int
    modified: int
    removed: int
    unchanged: int


@attrs.frozen(kw_only=True)
class AnalysisStarted(DomainEvent):
    job_id: JobId
    project_id: ProjectId


@attrs.frozen(kw_only=True)
class AnalysisCompleted(DomainEvent):
    job_id: JobId
    project_id: ProjectId
    status: JobStatus = JobStatus.COMPLETED
    result_count: int = 0
    metric_count: int = 0


@attrs.frozen(kw_only=True)
class AnalysisFailed(DomainEvent):
    job_id: JobId
    project_id: ProjectId
    status: JobStatus
    error: str | None


@attrs.frozen(kw_only=True)
class ConfigurationChanged(DomainEvent):
    project_id: ProjectId
    rule_id: RuleId | None = None


@attrs.frozen(kw_only=True)
class RuleChanged(DomainEvent):
    rule_id: RuleId


EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.__name__: cls
    for cls in (
        OrganizationRegistered,
        MemberAdded,
        MemberRemoved,
        ProjectCreated,
        ProjectUpdated,
        ProjectArchived,
        ProjectDeleted,
        RepositoryRegistered,
        RepositorySynced,
        FileChanged,
        FileIndexSnapshotRecorded,
        AnalysisStarted,
        AnalysisCompleted,
        AnalysisFailed,
        ConfigurationChanged,
        RuleChanged,
    )
}
