"""Repository ports: one per aggregate. Every method runs inside the caller's unit of work
and never commits. Lookups return None when nothing matches; writes raise
:class:`~ports.errors.NotFoundError` when the row (or a parent it refers to) is missing,
:class:`~ports.errors.DuplicateError` when a uniqueness rule of the schema would break, and
:class:`~ports.errors.ConcurrencyError` when ``update`` is given an entity whose
``updated_at`` is no longer the stored one (it was changed by someone else since it was
read). ``update`` returns the entity as stored, with its new ``updated_at``.

Lists page by keyset (:class:`~ports.pagination.PageRequest`); the ``*_SORTS`` constants
name the sort fields each list offers, the first being its default. Text searches return
the best ``limit`` matches, most relevant first.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

import attrs

from domain.analysis import AnalysisJob, AnalysisResult, CodeMetric
from domain.audit import AuditEntry, ChainCheck
from domain.enums import (
    AnalysisStatus,
    Category,
    IssueStatus,
    JobStatus,
    MetricType,
    ProgrammingLanguage,
    ProjectStatus,
    Severity,
    Visibility,
)
from domain.files import FileHistoryEntry, FileIndex, FileState
from domain.ids import (
    BranchId,
    FileId,
    GateId,
    IssueId,
    JobId,
    OrganizationId,
    ProjectId,
    RepositoryId,
    RuleId,
    UserId,
)
from domain.issues import Issue, IssueChange
from domain.organizations import Organization, OrganizationMember, User
from domain.projects import Project, Repository, RepositoryBranch
from domain.quality import GateEvaluation, IssueCount, MeasurePoint, NewCodePeriod, QualityGate
from domain.reports import FileHotspot, IssuesSummary, MetricAggregation, SnapshotResult
from domain.rules import ProjectRuleConfig, Rule
from ports.pagination import Page, PageRequest

__all__ = [
    "FILE_SORTS",
    "ISSUE_SORTS",
    "JOB_SORTS",
    "MEMBER_SORTS",
    "METRIC_SORTS",
    "ORGANIZATION_SORTS",
    "PROJECT_SORTS",
    "RESULT_SORTS",
    "USER_SORTS",
    "AnalysisRepository",
    "AuditTrail",
    "BranchRepository",
    "CodeSize",
    "FileAnalysis",
    "FileIndexRepository",
    "IssueFilters",
    "IssueRepository",
    "MeasureRepository",
    "MemberRepository",
    "NewCodeRepository",
    "OrganizationRepository",
    "ProjectRepository",
    "ProjectSearchFilters",
    "QualityGateRepository",
    "RepositoryRepository",
    "RuleConfigRepository",
    "RuleRepository",
    "UserRepository",
]

ORGANIZATION_SORTS = ("created_at", "name", "slug")
USER_SORTS = ("created_at", "username", "email")
MEMBER_SORTS = ("joined_at",)
PROJECT_SORTS = ("created_at", "updated_at", "name", "slug")
FILE_SORTS = ("relative_path", "last_modified", "size_bytes", "line_count")
JOB_SORTS = ("created_at", "priority")
RESULT_SORTS = ("created_at",)
METRIC_SORTS = ("created_at",)
ISSUE_SORTS = ("severity", "path", "first_seen_at", "last_seen_at", "updated_at")
"""``severity`` orders the most severe first when ascending (then path and line)."""


class OrganizationRepository(Protocol):
    """Organizations. Slugs are unique (also among soft-deleted ones, as in the schema).
    ``delete`` is soft: the row stays with ``deleted_at`` set and lookups skip it."""

    async def create(self, organization: Organization) -> Organization: ...
    async def find_by_id(self, id: OrganizationId) -> Organization | None: ...
    async def find_by_slug(self, slug: str) -> Organization | None: ...
    async def lock(self, id: OrganizationId) -> Organization:
        """The organization, locked for the rest of the unit of work, as
        :meth:`ProjectRepository.lock`: a concurrent unit that locks it too waits for this
        one to end, so that a check spanning the organization's rows (it keeps an owner)
        made under the lock still holds when the unit commits. Units that only add rows
        referring to the organization (members, projects) are not held up. NotFoundError
        if it does not exist (or is deleted)."""
        ...

    async def update(self, organization: Organization) -> Organization: ...
    async def delete(self, id: OrganizationId) -> None: ...
    async def list(self, page: PageRequest) -> Page[Organization]: ...


class UserRepository(Protocol):
    """Users; e-mail and username are each unique. Users are deactivated, not deleted."""

    async def create(self, user: User) -> User: ...
    async def find_by_id(self, id: UserId) -> User | None: ...
    async def find_by_email(self, email: str) -> User | None: ...
    async def find_by_username(self, username: str) -> User | None: ...
    async def update(self, user: User) -> User: ...
    async def list(self, page: PageRequest, *, active_only: bool = True) -> Page[User]: ...


class MemberRepository(Protocol):
    """Memberships; ``(organization_id, user_id)`` is unique. Both must exist (NotFoundError)."""

    async def add(self, member: OrganizationMember) -> OrganizationMember: ...
    async def find(
        self, organization_id: OrganizationId, user_id: UserId
    ) -> OrganizationMember | None: ...
    async def update(self, member: OrganizationMember) -> OrganizationMember: ...
    async def remove(self, organization_id: OrganizationId, user_id: UserId) -> bool: ...
    async def list_by_organization(
        self, organization_id: OrganizationId, page: PageRequest
    ) -> Page[OrganizationMember]: ...
    async def list_by_user(self, user_id: UserId) -> list[OrganizationMember]: ...


@attrs.frozen(kw_only=True)
class ProjectSearchFilters:
    """Narrow a project search; None means any."""

    organization_id: OrganizationId | None = None
    status: ProjectStatus | None = None
    visibility: Visibility | None = None


class ProjectRepository(Protocol):
    """Projects; ``(organization_id, slug)`` is unique, soft-deleted projects included.
    ``delete`` is soft; every lookup, list and search skips deleted projects."""

    async def create(self, project: Project) -> Project: ...
    async def find_by_id(self, id: ProjectId) -> Project | None: ...
    async def lock(self, id: ProjectId) -> Project:
        """The project, locked for the rest of the unit of work: a concurrent unit that
        locks it too waits for this one to end, so that a check made under the lock still
        holds when the unit commits, and a change computed from the project returned is
        never lost. Two units that wait for each other's locks are a deadlock: one fails
        with ConcurrencyError. NotFoundError if it does not exist (or is deleted)."""
        ...

    async def find_by_slug(self, organization_id: OrganizationId, slug: str) -> Project | None: ...
    async def update(self, project: Project) -> Project: ...
    async def delete(self, id: ProjectId) -> None: ...
    async def list_by_organization(
        self,
        organization_id: OrganizationId,
        page: PageRequest,
        *,
        status: ProjectStatus | None = None,
    ) -> Page[Project]: ...
    async def search(
        self, text: str, filters: ProjectSearchFilters | None = None, *, limit: int = 20
    ) -> list[Project]:
        """Full-text match of every word of ``text`` against name, slug and description
        (slug words and those of ``text`` split at '-', so a slug finds its project)."""
        ...


class RepositoryRepository(Protocol):
    """Git repositories of projects. ``delete`` removes the repository with its branches,
    file index, and the results and metrics of its files (ON DELETE CASCADE)."""

    async def create(self, repository: Repository) -> Repository: ...
    async def find_by_id(self, id: RepositoryId) -> Repository | None: ...
    async def update(self, repository: Repository) -> Repository: ...
    async def delete(self, id: RepositoryId) -> None: ...
    async def list_by_project(self, project_id: ProjectId) -> list[Repository]: ...


class BranchRepository(Protocol):
    """Branches; ``(repository_id, name)`` is unique."""

    async def find_by_name(
        self, repository_id: RepositoryId, name: str
    ) -> RepositoryBranch | None: ...
    async def list_by_repository(self, repository_id: RepositoryId) -> list[RepositoryBranch]: ...
    async def replace_all(
        self, repository_id: RepositoryId, branches: Sequence[RepositoryBranch]
    ) -> list[RepositoryBranch]:
        """Make the repository's branches exactly ``branches``: new names are inserted,
        known names updated in place (keeping their id and created_at), missing names
        deleted. Names must be unique within ``branches`` and every branch must belong to
        ``repository_id`` (ValidationError otherwise, before any write). Returns the
        stored branches sorted by name."""
        ...

    async def delete(self, id: BranchId) -> None: ...


class FileIndexRepository(Protocol):
    """The file index. A file removed from its repository is never erased: it stays with
    ``analysis_status`` DELETED (so the analyses that saw it keep their results, metrics
    and history) and drops out of every current view: lookups by path, lists (unless they
    ask for DELETED), counts and searches. ``(repository_id, relative_path)`` is unique
    among the files that are not deleted. ``find_by_id`` finds deleted files too."""

    async def create(self, file: FileIndex) -> FileIndex: ...
    async def find_by_id(self, id: FileId) -> FileIndex | None: ...
    async def find_by_path(
        self, repository_id: RepositoryId, relative_path: str
    ) -> FileIndex | None: ...
    async def update(self, file: FileIndex) -> FileIndex: ...
    async def delete(self, id: FileId) -> None:
        """Mark the file deleted (its results, metrics and history stay); NotFoundError if
        there is no such file, or it is deleted already."""
        ...

    async def list_by_repository(
        self,
        repository_id: RepositoryId,
        page: PageRequest,
        *,
        language: ProgrammingLanguage | None = None,
        status: AnalysisStatus | None = None,
    ) -> Page[FileIndex]:
        """The repository's files (with ``status`` only; deleted files only when
        ``status`` is DELETED)."""
        ...

    async def states(self, repository_id: RepositoryId) -> list[FileState]:
        """What the index holds of each of the repository's files, deleted ones included,
        without their metadata (ordered by path, then id): what telling changed files from
        unchanged ones needs, at a fraction of the cost of the whole entries. An unknown
        repository has none."""
        ...

    async def find_by_language(
        self, repository_id: RepositoryId, language: ProgrammingLanguage, page: PageRequest
    ) -> Page[FileIndex]: ...
    async def find_modified_since(
        self, repository_id: RepositoryId, since: dt.datetime, page: PageRequest
    ) -> Page[FileIndex]:
        """Files whose ``last_modified`` is strictly after ``since``."""
        ...

    async def count_by_repository(self, repository_id: RepositoryId) -> int: ...
    async def bulk_update_status(self, ids: Sequence[FileId], status: AnalysisStatus) -> int:
        """Set the analysis status of the given files; returns how many exist."""
        ...

    async def upsert_snapshot(
        self, repository_id: RepositoryId, files: Sequence[FileIndex], *, prune: bool = True
    ) -> SnapshotResult:
        """Record the whole file index of a repository in one bulk operation.

        Each file is matched to a stored one by id, else by its path among the files not
        deleted, else by its path among the deleted ones (the most recently deleted), and
        takes that file's identity (id and created_at): a match at another path is a
        rename, a deleted match is restored, a match whose ``file_hash`` differs is
        modified (all three are written from ``files``, analysis status included), and a
        match with the same hash and path is left untouched. A file matching nothing is
        inserted. With ``prune``, files not deleted that nothing matched are marked
        deleted. Paths must be unique within ``files`` (ValidationError before any
        write); renames may exchange paths. The repository's row is locked for the rest
        of the transaction (concurrent snapshots of one repository run one after the
        other)."""
        ...

    async def record_history(self, entries: Sequence[FileHistoryEntry]) -> int:
        """Append history entries in bulk; returns how many were written. A job records at
        most one entry per file (DuplicateError); every file and job must exist."""
        ...

    async def history(self, file_id: FileId) -> list[FileHistoryEntry]:
        """The file's history, oldest first (by time, then id)."""
        ...

    async def search(
        self, repository_ids: Sequence[RepositoryId], text: str, *, limit: int = 20
    ) -> list[FileIndex]:
        """Full-text match of every word of ``text`` over the paths and metadata
        description of the files of the given repositories, path words and those of
        ``text`` alike split at '/', '.', '_' and '-' (so a file name or path finds its
        file). Files whose path is ``text``, or ends with ``/`` and ``text`` (case aside),
        come first, then the best matches."""
        ...


class AnalysisRepository(Protocol):
    """Analysis jobs, their results and their metrics. Results and metrics are written in
    bulk; metrics upsert on ``(file_id, job_id, metric_type, metric_name)``.

    A job writes results and metrics only for the files it analysed; its file history
    entries (:meth:`FileIndexRepository.record_history`) say which those were. What a job
    *holds* is, for every file, what the latest analysis of that file up to and including
    the job found: the file's results and metrics from the latest completed job (ordered
    by creation) that has a history entry for it, the job itself included whatever its
    status, unless that entry records the file as deleted; plus the job's own results
    that belong to no file. The queries "by job", and those of a project's latest
    completed job, answer what the job holds; nothing is copied from job to job, and an
    earlier job's answers never change. A result read back carries in
    ``location.file_path`` the path its file had in the job that found it (empty without
    a file)."""

    async def create_job(self, job: AnalysisJob) -> AnalysisJob: ...
    async def find_job_by_id(self, id: JobId) -> AnalysisJob | None: ...
    async def update_job(self, job: AnalysisJob) -> AnalysisJob: ...
    async def list_jobs(
        self, project_id: ProjectId, page: PageRequest, *, status: JobStatus | None = None
    ) -> Page[AnalysisJob]: ...
    async def latest_job(
        self,
        project_id: ProjectId,
        *,
        status: JobStatus | None = JobStatus.COMPLETED,
        branch: str | None = None,
        before: JobId | None = None,
    ) -> AnalysisJob | None:
        """The most recently created job of the project (with that status, if given; of
        ``branch`` only if given, "" naming a detached HEAD's jobs; created before the job
        ``before`` if given)."""
        ...

    async def create_results(self, results: Sequence[AnalysisResult]) -> int:
        """Insert results in bulk; returns how many were written."""
        ...

    async def find_results_by_job(
        self,
        job_id: JobId,
        page: PageRequest,
        *,
        min_severity: Severity | None = None,
        category: Category | None = None,
    ) -> Page[AnalysisResult]:
        """The results the job holds (see the class docstring)."""
        ...

    async def find_results_by_file(self, file_id: FileId) -> list[AnalysisResult]:
        """Every result ever found in the file, by every job, oldest first."""
        ...

    async def delete_results_by_job(self, job_id: JobId) -> int: ...

    async def create_metrics(self, metrics: Sequence[CodeMetric]) -> int:
        """Upsert metrics in bulk on their natural key; returns how many were written."""
        ...

    async def find_metrics_by_file(
        self, file_id: FileId, *, job_id: JobId | None = None
    ) -> list[CodeMetric]:
        """The file's metrics written by ``job_id`` (by every job without one)."""
        ...

    async def find_metrics_by_job(
        self, job_id: JobId, page: PageRequest, *, metric_type: MetricType | None = None
    ) -> Page[CodeMetric]:
        """The metrics the job holds (see the class docstring), of ``metric_type`` only
        when given."""
        ...

    async def search_results(
        self, project_id: ProjectId, text: str, *, limit: int = 20
    ) -> list[AnalysisResult]:
        """Full-text match of ``text`` over the title and description of the results the
        project's latest completed job holds, best first."""
        ...

    async def aggregate_metrics(
        self, project_id: ProjectId, metric_type: MetricType
    ) -> MetricAggregation:
        """Per metric name of ``metric_type``: count, min, max, avg, sum and violations
        over the metrics the project's latest completed job holds."""
        ...

    async def issues_summary(
        self,
        project_id: ProjectId,
        *,
        days: int = 30,
        now: dt.datetime | None = None,
        latest_only: bool = False,
    ) -> IssuesSummary:
        """The results held by each of the project's completed jobs created in the last
        ``days`` days (a result held by several jobs counts once per job; with
        ``latest_only``, by its latest completed job only: the issues it has now),
        grouped by severity and category with count and average confidence; most severe
        first, then the largest groups."""
        ...

    async def hotspots(self, project_id: ProjectId, *, limit: int = 10) -> list[FileHotspot]:
        """Files with the most results held by the project's latest completed job."""
        ...

    async def code_size(self, job_id: JobId, *, since: dt.datetime | None) -> CodeSize:
        """The files the job holds (not deleted) and their lines as last analysed; of
        them, those that a job created after ``since`` (a completed one, or this job)
        added, changed, renamed or restored (none without ``since``)."""
        ...

    async def file_analyses(self, project_id: ProjectId) -> list[FileAnalysis]:
        """Every file history entry of the project's jobs, in the order of the jobs'
        creation: which job analysed (or saw deleted) which file."""
        ...

    async def delete_jobs(self, job_ids: Sequence[JobId]) -> int:
        """Delete finished jobs with everything they hold (results, metrics, history,
        measures, gate); issues keep their ids and timestamps. A running or pending job
        among them: ValidationError, nothing deleted. Returns how many were deleted."""
        ...


@attrs.frozen(kw_only=True)
class CodeSize:
    files: int
    lines: int
    new_files: int
    new_lines: int


@attrs.frozen(kw_only=True)
class FileAnalysis:
    job_id: JobId
    file_id: FileId
    deleted: bool


@attrs.frozen(kw_only=True)
class IssueFilters:
    """Which issues a list returns: of one branch ("" for a detached HEAD), of these
    statuses, at least this severity, on new code or not, of one file (by id)."""

    branch: str | None = None
    statuses: tuple[IssueStatus, ...] | None = None
    min_severity: Severity | None = None
    new_code: bool | None = None
    file_id: FileId | None = None
    rule_id: RuleId | None = None


class IssueRepository(Protocol):
    """The issues tracked in a project's branches (their current state) and their
    changelogs. Issues are written in bulk by analyses; a user's triage locks the issue
    (:meth:`lock`) before changing it."""

    async def add_many(self, issues: Sequence[Issue]) -> int:
        """Insert issues; NotFoundError for a missing project, job or file."""
        ...

    async def update_many(self, issues: Sequence[Issue]) -> int:
        """Store the state of issues read in this unit (every field but ``id``,
        ``project_id``, ``branch`` and ``created_at``); NotFoundError if one is gone."""
        ...

    async def find_by_id(self, id: IssueId) -> Issue | None: ...
    async def lock(self, id: IssueId) -> Issue:
        """The issue, locked until the unit ends; NotFoundError if missing."""
        ...

    async def for_tracking(
        self,
        project_id: ProjectId,
        branch: str,
        *,
        closed_since: dt.datetime,
        file_ids: Sequence[FileId | None] | None = None,
    ) -> list[Issue]:
        """The branch's issues an analysis matches its findings with: every one not
        closed, and those closed at or after ``closed_since``; with ``file_ids``, only
        those of these files (None in it: the issues of no file)."""
        ...

    async def add_changes(self, changes: Sequence[IssueChange]) -> int:
        """Append changelog entries; NotFoundError for a missing issue."""
        ...

    async def changelog(self, issue_id: IssueId) -> list[IssueChange]:
        """The issue's changes, oldest first."""
        ...

    async def mark_new_code(
        self, project_id: ProjectId, branch: str, *, since: dt.datetime | None
    ) -> int:
        """Set each of the branch's issues' ``new_code``: first seen after ``since`` (none
        when None). Returns how many changed."""
        ...

    async def counts(self, project_id: ProjectId, branch: str) -> list[IssueCount]:
        """The branch's issues counted by status, resolution, severity and new code."""
        ...

    async def delete_closed(self, *, before: dt.datetime) -> int:
        """Delete the issues (with their changelogs) closed before ``before``; returns
        how many."""
        ...

    async def list(
        self, project_id: ProjectId, page: PageRequest, *, filters: IssueFilters | None = None
    ) -> Page[Issue]:
        """The project's issues that pass ``filters``, sorted by one of ISSUE_SORTS."""
        ...


class MeasureRepository(Protocol):
    """The measures of each analysis (their history) and the live measures of each
    project branch (those of its latest analysis), and the quality gate of each
    analysis."""

    async def record(
        self,
        job_id: JobId,
        project_id: ProjectId,
        branch: str,
        measures: dict[str, float],
        *,
        at: dt.datetime,
    ) -> int:
        """The analysis' measures, into its history and as the branch's live measures
        (replacing the branch's earlier ones). Returns how many."""
        ...

    async def live(self, project_id: ProjectId, branch: str) -> dict[str, float]:
        """The branch's live measures ({} before its first analysis)."""
        ...

    async def history(self, project_id: ProjectId, branch: str, metric: str) -> list[MeasurePoint]:
        """``metric`` in each of the branch's analyses still kept, oldest first."""
        ...

    async def record_gate(self, evaluation: GateEvaluation) -> None:
        """The gate of an analysis (one per analysis: DuplicateError for a second)."""
        ...

    async def gate(self, job_id: JobId) -> GateEvaluation | None: ...
    async def latest_gate(self, project_id: ProjectId, branch: str) -> GateEvaluation | None:
        """The gate of the branch's latest analysis that has one."""
        ...


class QualityGateRepository(Protocol):
    """An organization's named quality gates (names unique within it, at most one
    default) and the gate assigned to each project."""

    async def create(self, gate: QualityGate) -> QualityGate: ...
    async def find_by_id(self, id: GateId) -> QualityGate | None: ...
    async def find_by_name(
        self, organization_id: OrganizationId, name: str
    ) -> QualityGate | None: ...
    async def update(self, gate: QualityGate) -> QualityGate: ...
    async def delete(self, id: GateId) -> None:
        """Delete a gate; its projects fall back to the default. NotFoundError if missing."""
        ...

    async def assign(self, project_id: ProjectId, gate_id: GateId | None) -> None:
        """Assign a gate to the project (None: back to the default)."""
        ...

    async def assigned(self, project_id: ProjectId) -> QualityGate | None:
        """The gate assigned to the project, else its organization's default, else None."""
        ...

    async def list(self, organization_id: OrganizationId) -> list[QualityGate]:
        """The organization's gates by name."""
        ...


class NewCodeRepository(Protocol):
    """What new code is measured from: per project (branch None), overridable per
    branch."""

    async def set(
        self, project_id: ProjectId, branch: str | None, period: NewCodePeriod
    ) -> None: ...
    async def get(self, project_id: ProjectId, branch: str | None) -> NewCodePeriod | None:
        """The period set for exactly this branch (the project's with None)."""
        ...

    async def clear(self, project_id: ProjectId, branch: str | None) -> bool: ...


class RuleRepository(Protocol):
    """The rule catalogue: a bounded reference set, so lists are not paged."""

    async def create(self, rule: Rule) -> Rule: ...
    async def find_by_id(self, id: RuleId) -> Rule | None: ...
    async def update(self, rule: Rule) -> Rule: ...
    async def delete(self, id: RuleId) -> None: ...
    async def upsert_many(self, rules: Sequence[Rule]) -> int:
        """Insert or replace rules by id in bulk (keeping created_at of known ones)."""
        ...

    async def list(
        self,
        *,
        category: Category | None = None,
        language: ProgrammingLanguage | None = None,
        enabled: bool | None = None,
    ) -> list[Rule]: ...


class RuleConfigRepository(Protocol):
    """Per-project rule configuration; ``(project_id, rule_id)`` is unique and both the
    project and the rule must exist."""

    async def find(self, project_id: ProjectId, rule_id: RuleId) -> ProjectRuleConfig | None: ...
    async def list_by_project(self, project_id: ProjectId) -> list[ProjectRuleConfig]: ...
    async def upsert(self, config: ProjectRuleConfig) -> ProjectRuleConfig:
        """Insert, or replace the existing config of the same project and rule (keeping its
        id and created_at)."""
        ...

    async def delete(self, project_id: ProjectId, rule_id: RuleId) -> bool: ...


class AuditTrail(Protocol):
    """The audit trail (see :mod:`domain.audit`), read-only: the store writes an entry for
    every change in the transaction that makes it, with the unit of work's actor. Entries
    appear when their transaction commits."""

    async def entries(
        self,
        *,
        organization_id: OrganizationId | None = None,
        entity: str | None = None,
        entity_id: str | None = None,
        since: dt.datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """The latest ``limit`` entries (newest first) of one organization (every one
        when None), of one table (``entity``) and row (``entity_id``), at or after
        ``since``."""
        ...

    async def verify(self, organization_id: OrganizationId | None = None) -> list[ChainCheck]:
        """Check every chain (or that organization's): numbers, links, hashes and head."""
        ...
