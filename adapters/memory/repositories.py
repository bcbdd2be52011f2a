"""In-memory implementations of the repository ports, over a :class:`Transaction`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import attrs

from adapters.common import (
    StoredFile,
    check_branches,
    check_limit,
    check_snapshot,
    plan_snapshot,
    summary_since,
)
from adapters.memory._query import copied, match_rank, paginate, words
from adapters.memory.database import SCHEMA, MemoryDatabase, Transaction
from domain.analysis import AnalysisJob, AnalysisResult, CodeMetric
from domain.enums import (
    AnalysisStatus,
    Category,
    FileChange,
    JobStatus,
    MetricType,
    ProgrammingLanguage,
    ProjectStatus,
    Severity,
)
from domain.files import FileHistoryEntry, FileIndex, FileState
from domain.ids import (
    BranchId,
    FileId,
    JobId,
    OrganizationId,
    ProjectId,
    RepositoryId,
    RuleId,
    UserId,
)
from domain.organizations import Organization, OrganizationMember, User
from domain.projects import Project, Repository, RepositoryBranch
from domain.reports import (
    FileHotspot,
    IssuesSummary,
    IssuesSummaryRow,
    MetricAggregation,
    MetricStats,
    SnapshotResult,
)
from domain.rules import ProjectRuleConfig, Rule
from ports.errors import ConcurrencyError, NotFoundError, ValidationError
from ports.pagination import Page, PageRequest
from ports.repositories import (
    FILE_SORTS,
    JOB_SORTS,
    MEMBER_SORTS,
    METRIC_SORTS,
    ORGANIZATION_SORTS,
    PROJECT_SORTS,
    RESULT_SORTS,
    USER_SORTS,
    CodeSize,
    FileAnalysis,
    ProjectSearchFilters,
)

# the history entries after which a file's content counts as new code
_CONTENT_CHANGES = frozenset(
    {FileChange.ADDED, FileChange.MODIFIED, FileChange.RENAMED, FileChange.RESTORED}
)

__all__ = [
    "MemoryAnalysisRepository",
    "MemoryBranchRepository",
    "MemoryFileIndexRepository",
    "MemoryMemberRepository",
    "MemoryOrganizationRepository",
    "MemoryProjectRepository",
    "MemoryRepositoryRepository",
    "MemoryRuleConfigRepository",
    "MemoryRuleRepository",
    "MemoryUserRepository",
]

E = TypeVar("E")


class _Base:
    """Gives a repository the active transaction of its unit and the store's clock."""

    table: str

    def __init__(self, transaction: Callable[[], Transaction], database: MemoryDatabase) -> None:
        self._tx = transaction
        self._db = database

    def _get(self, key: Any) -> Any | None:
        return self._tx().get(self.table, key)

    def _create(self, entity: E) -> E:
        return copied(self._tx().insert(self.table, entity))

    def _update_versioned(self, entity: E, *, visible: Callable[[Any], bool] = bool) -> E:
        """Optimistic update: ``entity.updated_at`` must still be the stored one."""
        tx = self._tx()
        current = tx.get(self.table, entity.id)  # type: ignore[attr-defined]
        if current is None or not visible(current):
            raise NotFoundError(SCHEMA[self.table].entity, entity.id)  # type: ignore[attr-defined]
        if current.updated_at != entity.updated_at:  # type: ignore[attr-defined]
            raise ConcurrencyError(
                f"{SCHEMA[self.table].entity} {entity.id} changed since it was read"  # type: ignore[attr-defined]
            )
        stored = copied(entity)
        stored.updated_at = self._db.now()  # type: ignore[attr-defined]
        return copied(tx.replace(self.table, stored))

    async def _lock(self, key: Any, entity: str) -> Any:
        """The live row, locked for the rest of the transaction; NotFoundError if it is
        missing or soft-deleted."""
        row = await self._tx().lock(self.table, key, where=_alive)
        if row is None:
            raise NotFoundError(entity, key)
        return copied(row)

    def _soft_delete(self, key: Any) -> None:
        tx = self._tx()
        current = tx.get(self.table, key)
        if current is None or current.deleted_at is not None:
            raise NotFoundError(SCHEMA[self.table].entity, key)
        row = copied(current)
        row.deleted_at = row.updated_at = self._db.now()
        tx.replace(self.table, row)


def _alive(row: Any) -> bool:
    return row is not None and row.deleted_at is None


# --------------------------------------------------------------------------- organizations


class MemoryOrganizationRepository(_Base):
    table = "organizations"

    async def create(self, organization: Organization) -> Organization:
        return self._create(organization)

    async def find_by_id(self, id: OrganizationId) -> Organization | None:
        row = self._get(id)
        return copied(row) if _alive(row) else None

    async def find_by_slug(self, slug: str) -> Organization | None:
        row = self._tx().find_unique(self.table, ("slug",), (slug,))
        return copied(row) if _alive(row) else None

    async def lock(self, id: OrganizationId) -> Organization:
        organization: Organization = await self._lock(id, "organization")
        return organization

    async def update(self, organization: Organization) -> Organization:
        return self._update_versioned(organization, visible=_alive)

    async def delete(self, id: OrganizationId) -> None:
        self._soft_delete(id)

    async def list(self, page: PageRequest) -> Page[Organization]:
        rows = (r for r in self._tx().scan(self.table) if r.deleted_at is None)
        return paginate(rows, page, sorts=ORGANIZATION_SORTS)


class MemoryUserRepository(_Base):
    table = "users"

    async def create(self, user: User) -> User:
        return self._create(user)

    async def find_by_id(self, id: UserId) -> User | None:
        row = self._get(id)
        return copied(row) if row is not None else None

    async def find_by_email(self, email: str) -> User | None:
        row = self._tx().find_unique(self.table, ("email",), (email,))
        return copied(row) if row is not None else None

    async def find_by_username(self, username: str) -> User | None:
        row = self._tx().find_unique(self.table, ("username",), (username,))
        return copied(row) if row is not None else None

    async def update(self, user: User) -> User:
        return self._update_versioned(user)

    async def list(self, page: PageRequest, *, active_only: bool = True) -> Page[User]:
        rows = (r for r in self._tx().scan(self.table) if r.is_active or not active_only)
        return paginate(rows, page, sorts=USER_SORTS)


class MemoryMemberRepository(_Base):
    table = "organization_members"

    async def add(self, member: OrganizationMember) -> OrganizationMember:
        return self._create(member)

    async def find(
        self, organization_id: OrganizationId, user_id: UserId
    ) -> OrganizationMember | None:
        row = self._find(organization_id, user_id)
        return copied(row) if row is not None else None

    def _find(self, organization_id: OrganizationId, user_id: UserId) -> Any:
        return self._tx().find_unique(
            self.table, ("organization_id", "user_id"), (organization_id, user_id)
        )

    async def update(self, member: OrganizationMember) -> OrganizationMember:
        if self._get(member.id) is None:
            raise NotFoundError("organization member", member.id)
        return copied(self._tx().replace(self.table, member))

    async def remove(self, organization_id: OrganizationId, user_id: UserId) -> bool:
        row = self._find(organization_id, user_id)
        if row is None:
            return False
        self._tx().delete(self.table, row.id)
        return True

    async def list_by_organization(
        self, organization_id: OrganizationId, page: PageRequest
    ) -> Page[OrganizationMember]:
        rows = (r for r in self._tx().scan(self.table) if r.organization_id == organization_id)
        return paginate(rows, page, sorts=MEMBER_SORTS)

    async def list_by_user(self, user_id: UserId) -> list[OrganizationMember]:
        rows = [r for r in self._tx().scan(self.table) if r.user_id == user_id]
        return [copied(r) for r in sorted(rows, key=lambda r: (r.joined_at, r.id))]


# --------------------------------------------------------------------------- projects


class MemoryProjectRepository(_Base):
    table = "projects"

    async def create(self, project: Project) -> Project:
        return self._create(project)

    async def find_by_id(self, id: ProjectId) -> Project | None:
        row = self._get(id)
        return copied(row) if _alive(row) else None

    async def find_by_slug(self, organization_id: OrganizationId, slug: str) -> Project | None:
        row = self._tx().find_unique(
            self.table, ("organization_id", "slug"), (organization_id, slug)
        )
        return copied(row) if _alive(row) else None

    async def lock(self, id: ProjectId) -> Project:
        project: Project = await self._lock(id, "project")
        return project

    async def update(self, project: Project) -> Project:
        return self._update_versioned(project, visible=_alive)

    async def delete(self, id: ProjectId) -> None:
        self._soft_delete(id)

    async def list_by_organization(
        self,
        organization_id: OrganizationId,
        page: PageRequest,
        *,
        status: ProjectStatus | None = None,
    ) -> Page[Project]:
        rows = (
            r
            for r in self._tx().scan(self.table)
            if r.organization_id == organization_id
            and r.deleted_at is None
            and (status is None or r.status == status)
        )
        return paginate(rows, page, sorts=PROJECT_SORTS)

    async def search(
        self, text: str, filters: ProjectSearchFilters | None = None, *, limit: int = 20
    ) -> list[Project]:
        check_limit(limit)
        query = words(text)
        if not query:
            return []
        f = filters or ProjectSearchFilters()
        hits: list[tuple[int, Project]] = []
        for row in self._tx().scan(self.table):
            if row.deleted_at is not None:
                continue
            if f.organization_id is not None and row.organization_id != f.organization_id:
                continue
            if f.status is not None and row.status != f.status:
                continue
            if f.visibility is not None and row.visibility != f.visibility:
                continue
            rank = match_rank(query, f"{row.name} {row.slug} {row.description or ''}")
            if rank:
                hits.append((rank, row))
        hits.sort(key=lambda h: (-h[0], h[1].name, h[1].id))
        return [copied(row) for _, row in hits[:limit]]


class MemoryRepositoryRepository(_Base):
    table = "repositories"

    async def create(self, repository: Repository) -> Repository:
        return self._create(repository)

    async def find_by_id(self, id: RepositoryId) -> Repository | None:
        row = self._get(id)
        return copied(row) if row is not None else None

    async def update(self, repository: Repository) -> Repository:
        return self._update_versioned(repository)

    async def delete(self, id: RepositoryId) -> None:
        self._tx().delete(self.table, id)

    async def list_by_project(self, project_id: ProjectId) -> list[Repository]:
        rows = [r for r in self._tx().scan(self.table) if r.project_id == project_id]
        return [copied(r) for r in sorted(rows, key=lambda r: (r.created_at, r.id))]


class MemoryBranchRepository(_Base):
    table = "repository_branches"

    async def find_by_name(self, repository_id: RepositoryId, name: str) -> RepositoryBranch | None:
        row = self._tx().find_unique(self.table, ("repository_id", "name"), (repository_id, name))
        return copied(row) if row is not None else None

    async def list_by_repository(self, repository_id: RepositoryId) -> list[RepositoryBranch]:
        rows = [r for r in self._tx().scan(self.table) if r.repository_id == repository_id]
        return [copied(r) for r in sorted(rows, key=lambda r: r.name)]

    async def replace_all(
        self, repository_id: RepositoryId, branches: Sequence[RepositoryBranch]
    ) -> list[RepositoryBranch]:
        tx = self._tx()
        if tx.get("repositories", repository_id) is None:
            raise NotFoundError("repository", repository_id)
        check_branches(repository_id, branches)
        existing = {r.name: r for r in tx.scan(self.table) if r.repository_id == repository_id}
        names = {b.name for b in branches}
        for name, row in existing.items():
            if name not in names:
                tx.delete(self.table, row.id)
        for branch in branches:
            known = existing.get(branch.name)
            if known is None:
                tx.insert(self.table, branch)
            else:
                tx.replace(
                    self.table, attrs.evolve(branch, id=known.id, created_at=known.created_at)
                )
        return await self.list_by_repository(repository_id)

    async def delete(self, id: BranchId) -> None:
        self._tx().delete(self.table, id)


# --------------------------------------------------------------------------- file index


def _live(row: Any) -> bool:
    return row is not None and row.analysis_status is not AnalysisStatus.DELETED


class MemoryFileIndexRepository(_Base):
    table = "file_index"

    async def create(self, file: FileIndex) -> FileIndex:
        return self._create(file)

    async def find_by_id(self, id: FileId) -> FileIndex | None:
        row = self._get(id)
        return copied(row) if row is not None else None

    async def find_by_path(
        self, repository_id: RepositoryId, relative_path: str
    ) -> FileIndex | None:
        row = self._tx().find_unique(
            self.table, ("repository_id", "relative_path"), (repository_id, relative_path), _live
        )
        return copied(row) if row is not None else None

    async def update(self, file: FileIndex) -> FileIndex:
        return self._update_versioned(file)

    async def delete(self, id: FileId) -> None:
        tx = self._tx()
        row = tx.get(self.table, id)
        if row is None or not _live(row):
            raise NotFoundError("file", id)
        tx.replace(
            self.table,
            attrs.evolve(row, analysis_status=AnalysisStatus.DELETED, updated_at=self._db.now()),
        )

    def _of(self, repository_id: RepositoryId, *, deleted: bool = False) -> list[Any]:
        return [
            r
            for r in self._tx().scan(self.table)
            if r.repository_id == repository_id and _live(r) != deleted
        ]

    async def list_by_repository(
        self,
        repository_id: RepositoryId,
        page: PageRequest,
        *,
        language: ProgrammingLanguage | None = None,
        status: AnalysisStatus | None = None,
    ) -> Page[FileIndex]:
        rows = (
            r
            for r in self._of(repository_id, deleted=status is AnalysisStatus.DELETED)
            if (language is None or r.language == language)
            and (status is None or r.analysis_status == status)
        )
        return paginate(rows, page, sorts=FILE_SORTS)

    async def states(self, repository_id: RepositoryId) -> list[FileState]:
        rows = (r for r in self._tx().scan(self.table) if r.repository_id == repository_id)
        return [
            FileState(
                id=r.id, relative_path=r.relative_path, file_hash=r.file_hash,
                is_deleted=not _live(r), line_count=r.line_count,
                skipped=r.metadata.skipped_reason is not None, updated_at=r.updated_at,
            )
            for r in sorted(rows, key=lambda r: (r.relative_path.encode(), r.id.bytes))
        ]  # fmt: skip

    async def find_by_language(
        self, repository_id: RepositoryId, language: ProgrammingLanguage, page: PageRequest
    ) -> Page[FileIndex]:
        return await self.list_by_repository(repository_id, page, language=language)

    async def find_modified_since(
        self, repository_id: RepositoryId, since: dt.datetime, page: PageRequest
    ) -> Page[FileIndex]:
        rows = (r for r in self._of(repository_id) if r.last_modified > since)
        return paginate(rows, page, sorts=FILE_SORTS)

    async def count_by_repository(self, repository_id: RepositoryId) -> int:
        return len(self._of(repository_id))

    async def bulk_update_status(self, ids: Sequence[FileId], status: AnalysisStatus) -> int:
        tx = self._tx()
        now = self._db.now()
        count = 0
        for file_id in dict.fromkeys(ids):
            row = tx.get(self.table, file_id)
            if row is None:
                continue
            tx.replace(self.table, attrs.evolve(row, analysis_status=status, updated_at=now))
            count += 1
        return count

    async def upsert_snapshot(
        self, repository_id: RepositoryId, files: Sequence[FileIndex], *, prune: bool = True
    ) -> SnapshotResult:
        tx = self._tx()
        if await tx.lock("repositories", repository_id) is None:
            raise NotFoundError("repository", repository_id)
        check_snapshot(repository_id, files)
        rows = {
            r.id: r for r in tx.scan(self.table) if r.repository_id == repository_id
        }  # fmt: skip
        stored = [
            StoredFile(r.id, r.relative_path, r.file_hash, not _live(r), r.created_at, r.updated_at)
            for r in rows.values()
        ]
        plan = plan_snapshot(stored, files, prune=prune)
        now = self._db.now()
        deleted = AnalysisStatus.DELETED
        for file_id in plan.vacate:  # free the paths first: renames may exchange them
            tx.replace(self.table, attrs.evolve(rows[file_id], analysis_status=deleted))
        for file in plan.inserts:
            tx.insert(self.table, file)
        for file in plan.updates:
            tx.replace(self.table, attrs.evolve(file, updated_at=now))
        for file_id in plan.deletes:
            tx.replace(
                self.table, attrs.evolve(rows[file_id], analysis_status=deleted, updated_at=now)
            )
        return plan.result

    async def record_history(self, entries: Sequence[FileHistoryEntry]) -> int:
        tx = self._tx()
        for entry in entries:
            tx.insert("file_history", entry)
        return len(entries)

    async def history(self, file_id: FileId) -> list[FileHistoryEntry]:
        rows = [r for r in self._tx().scan("file_history") if r.file_id == file_id]
        return [copied(r) for r in sorted(rows, key=lambda r: (r.created_at, r.id))]

    async def search(
        self, repository_ids: Sequence[RepositoryId], text: str, *, limit: int = 20
    ) -> list[FileIndex]:
        check_limit(limit)
        query = words(text)
        wanted = set(repository_ids)
        if not query or not wanted:
            return []
        hits: list[tuple[int, Any]] = []
        for row in self._tx().scan(self.table):
            if row.repository_id not in wanted or not _live(row):
                continue
            rank = match_rank(query, f"{row.relative_path} {row.metadata.description or ''}")
            if rank:
                hits.append((rank, row))
        # a path that is the text, or ends with it after a "/", comes first
        named = text.lower()

        def ends_with_text(row: FileIndex) -> bool:
            path = row.relative_path.lower()
            return path == named or path.endswith("/" + named)

        hits.sort(key=lambda h: (not ends_with_text(h[1]), -h[0], h[1].relative_path, h[1].id))
        return [copied(row) for _, row in hits[:limit]]


# --------------------------------------------------------------------------- analysis


class MemoryAnalysisRepository(_Base):
    table = "analysis_jobs"

    async def create_job(self, job: AnalysisJob) -> AnalysisJob:
        return self._create(job)

    async def find_job_by_id(self, id: JobId) -> AnalysisJob | None:
        row = self._get(id)
        return copied(row) if row is not None else None

    async def update_job(self, job: AnalysisJob) -> AnalysisJob:
        return self._update_versioned(job)

    def _jobs(self, project_id: ProjectId, status: JobStatus | None) -> list[Any]:
        return [
            r
            for r in self._tx().scan(self.table)
            if r.project_id == project_id and (status is None or r.status == status)
        ]

    async def list_jobs(
        self, project_id: ProjectId, page: PageRequest, *, status: JobStatus | None = None
    ) -> Page[AnalysisJob]:
        return paginate(self._jobs(project_id, status), page, sorts=JOB_SORTS)

    async def latest_job(
        self,
        project_id: ProjectId,
        *,
        status: JobStatus | None = JobStatus.COMPLETED,
        branch: str | None = None,
        before: JobId | None = None,
    ) -> AnalysisJob | None:
        jobs = self._jobs(project_id, status)
        if branch is not None:
            jobs = [j for j in jobs if (j.branch or "") == branch]
        if before is not None:
            limit = self._get(before)
            if limit is None:
                return None
            jobs = [j for j in jobs if (j.created_at, j.id) < (limit.created_at, limit.id)]
        row = max(jobs, key=lambda r: (r.created_at, r.id)) if jobs else None
        return copied(row) if row is not None else None

    def _latest(self, project_id: ProjectId, status: JobStatus | None) -> Any | None:
        jobs = self._jobs(project_id, status)
        return max(jobs, key=lambda r: (r.created_at, r.id)) if jobs else None

    async def create_results(self, results: Sequence[AnalysisResult]) -> int:
        tx = self._tx()
        for result in results:
            tx.insert("analysis_results", result)
        return len(results)

    def _held_files(self, job_id: JobId) -> dict[FileId, JobId]:
        """For each file the job holds, the job whose analysis of it the job holds (see
        ports.repositories.AnalysisRepository)."""
        tx = self._tx()
        target = tx.get(self.table, job_id)
        if target is None:
            return {}
        upto = (target.created_at, target.id)
        jobs = {
            j.id: (j.created_at, j.id)
            for j in tx.scan(self.table)
            if j.project_id == target.project_id
            and (j.created_at, j.id) <= upto
            and (j.status is JobStatus.COMPLETED or j.id == target.id)
        }
        latest: dict[FileId, tuple[tuple[Any, Any], FileHistoryEntry]] = {}
        for entry in tx.scan("file_history"):
            order = jobs.get(entry.job_id)
            if order is None:
                continue
            known = latest.get(entry.file_id)
            if known is None or order > known[0]:
                latest[entry.file_id] = (order, entry)
        return {
            file_id: entry.job_id
            for file_id, (_, entry) in latest.items()
            if entry.change is not FileChange.DELETED and entry.job_id is not None
        }

    def _held(self, table: str, job_id: JobId) -> list[Any]:
        """The rows of ``table`` (results or metrics) the job holds."""
        held = self._held_files(job_id)
        return [
            r
            for r in self._tx().scan(table)
            if (r.file_id is None and r.job_id == job_id)
            or (r.file_id is not None and held.get(r.file_id) == r.job_id)
        ]

    def _located(self, result: AnalysisResult) -> AnalysisResult:
        """``result`` with the path its file had in the job that found it."""
        if result.location is None:
            return result
        path = self._path_in_job(result.file_id, result.job_id) if result.file_id else ""
        if result.location.file_path == path:
            return result
        return attrs.evolve(result, location=attrs.evolve(result.location, file_path=path))

    def _path_in_job(self, file_id: FileId, job_id: JobId) -> str:
        tx = self._tx()
        entry = tx.find_unique("file_history", ("job_id", "file_id"), (job_id, file_id))
        if entry is not None:
            return str(entry.relative_path)
        file = tx.get("file_index", file_id)
        return str(file.relative_path) if file is not None else ""

    async def find_results_by_job(
        self,
        job_id: JobId,
        page: PageRequest,
        *,
        min_severity: Severity | None = None,
        category: Category | None = None,
    ) -> Page[AnalysisResult]:
        rows = (
            r
            for r in self._held("analysis_results", job_id)
            if (min_severity is None or r.severity >= min_severity)
            and (category is None or r.category == category)
        )
        page_ = paginate(rows, page, sorts=RESULT_SORTS)
        return Page(tuple(self._located(r) for r in page_.items), page_.next_cursor)

    async def find_results_by_file(self, file_id: FileId) -> list[AnalysisResult]:
        rows = [r for r in self._tx().scan("analysis_results") if r.file_id == file_id]
        rows.sort(key=lambda r: (r.created_at, r.id))
        return [self._located(copied(r)) for r in rows]

    async def delete_results_by_job(self, job_id: JobId) -> int:
        tx = self._tx()
        ids = [r.id for r in tx.scan("analysis_results") if r.job_id == job_id]
        for result_id in ids:
            tx.delete("analysis_results", result_id)
        return len(ids)

    async def create_metrics(self, metrics: Sequence[CodeMetric]) -> int:
        tx = self._tx()
        latest: dict[tuple[Any, ...], CodeMetric] = {}
        for metric in metrics:  # the last of a natural key wins, as one upsert would
            latest[(metric.file_id, metric.job_id, metric.metric_type, metric.metric_name)] = metric
        columns = ("file_id", "job_id", "metric_type", "metric_name")
        for natural_key, metric in latest.items():
            known = tx.find_unique("code_metrics", columns, natural_key)
            if known is None:
                tx.insert("code_metrics", metric)
            else:
                tx.replace(
                    "code_metrics", attrs.evolve(metric, id=known.id, created_at=known.created_at)
                )
        return len(latest)

    async def find_metrics_by_file(
        self, file_id: FileId, *, job_id: JobId | None = None
    ) -> list[CodeMetric]:
        rows = [
            r
            for r in self._tx().scan("code_metrics")
            if r.file_id == file_id and (job_id is None or r.job_id == job_id)
        ]
        rows.sort(key=lambda r: (r.metric_type.value, r.metric_name, r.created_at, r.id))
        return [copied(r) for r in rows]

    async def find_metrics_by_job(
        self, job_id: JobId, page: PageRequest, *, metric_type: MetricType | None = None
    ) -> Page[CodeMetric]:
        rows = (
            m
            for m in self._held("code_metrics", job_id)
            if metric_type is None or m.metric_type == metric_type
        )
        return paginate(rows, page, sorts=METRIC_SORTS)

    async def search_results(
        self, project_id: ProjectId, text: str, *, limit: int = 20
    ) -> list[AnalysisResult]:
        check_limit(limit)
        query = words(text)
        job = self._latest(project_id, JobStatus.COMPLETED)
        if job is None or not query:
            return []
        hits = []
        for r in self._held("analysis_results", job.id):
            rank = match_rank(query, f"{r.title} {r.description}")
            if rank:
                hits.append((rank, r))
        hits.sort(key=lambda h: (-h[0], h[1].created_at, h[1].id))
        return [self._located(copied(r)) for _, r in hits[:limit]]

    async def aggregate_metrics(
        self, project_id: ProjectId, metric_type: MetricType
    ) -> MetricAggregation:
        job = self._latest(project_id, JobStatus.COMPLETED)
        if job is None:
            return MetricAggregation(
                project_id=project_id, metric_type=metric_type, job_id=None, metrics=()
            )
        groups: dict[str, list[CodeMetric]] = {}
        for m in self._held("code_metrics", job.id):
            if m.metric_type == metric_type:
                groups.setdefault(m.metric_name, []).append(m)
        stats = tuple(
            MetricStats(
                metric_name=name,
                count=len(ms),
                min=min(m.value for m in ms),
                max=max(m.value for m in ms),
                avg=sum(m.value for m in ms) / len(ms),
                sum=sum(m.value for m in ms),
                violations=sum(1 for m in ms if m.is_violation),
            )
            for name, ms in sorted(groups.items())
        )
        return MetricAggregation(
            project_id=project_id, metric_type=metric_type, job_id=job.id, metrics=stats
        )

    async def issues_summary(
        self,
        project_id: ProjectId,
        *,
        days: int = 30,
        now: dt.datetime | None = None,
        latest_only: bool = False,
    ) -> IssuesSummary:
        since = summary_since(days, now)
        if latest_only:
            latest = self._latest(project_id, JobStatus.COMPLETED)
            jobs = [latest] if latest is not None else []
        else:
            jobs = self._jobs(project_id, JobStatus.COMPLETED)
        groups: dict[tuple[Severity, Category], list[float]] = {}
        for job in jobs:
            held_since = job.completed_at or job.created_at
            if held_since <= since:
                continue
            for r in self._held("analysis_results", job.id):
                # a job's own results count from when they were found, those it holds
                # from an earlier analysis from when the job completed
                if (r.created_at if r.job_id == job.id else held_since) > since:
                    groups.setdefault((r.severity, r.category), []).append(r.confidence)
        rows = [
            IssuesSummaryRow(
                severity=severity,
                category=category,
                count=len(values),
                avg_confidence=sum(values) / len(values),
            )
            for (severity, category), values in groups.items()
        ]
        rows.sort(key=lambda r: (r.severity.rank, -r.count, r.category.value))
        return IssuesSummary(project_id=project_id, since=since, rows=tuple(rows))

    async def hotspots(self, project_id: ProjectId, *, limit: int = 10) -> list[FileHotspot]:
        check_limit(limit)
        job = self._latest(project_id, JobStatus.COMPLETED)
        if job is None:
            return []
        per_file: dict[FileId, list[AnalysisResult]] = {}
        for r in self._held("analysis_results", job.id):
            if r.file_id is not None:
                per_file.setdefault(r.file_id, []).append(r)
        spots = [
            FileHotspot(
                file_id=file_id,
                relative_path=self._path_in_job(file_id, results[0].job_id),
                issues=len(results),
                worst_severity=max(r.severity for r in results),
            )
            for file_id, results in per_file.items()
        ]
        spots.sort(key=lambda s: (-s.issues, s.worst_severity.rank, s.relative_path))
        return spots[:limit]

    async def code_size(self, job_id: JobId, *, since: dt.datetime | None) -> CodeSize:
        tx = self._tx()
        target = tx.get(self.table, job_id)
        held = self._held_files(job_id)
        if target is None or not held:
            return CodeSize(files=0, lines=0, new_files=0, new_lines=0)
        upto = (target.created_at, target.id)
        lines: dict[FileId, int] = {}
        changed: set[FileId] = set()
        for entry in tx.scan("file_history"):
            if entry.file_id not in held:
                continue
            if entry.job_id == held[entry.file_id]:
                lines[entry.file_id] = entry.line_count or 0
            job = tx.get(self.table, entry.job_id) if entry.job_id is not None else None
            if (
                since is not None
                and job is not None
                and (job.created_at, job.id) <= upto
                and (job.status is JobStatus.COMPLETED or job.id == job_id)
                and entry.change in _CONTENT_CHANGES
                and job.created_at > since
            ):
                changed.add(entry.file_id)
        return CodeSize(
            files=len(held),
            lines=sum(lines.values()),
            new_files=len(changed),
            new_lines=sum(lines.get(f, 0) for f in changed),
        )

    async def file_analyses(self, project_id: ProjectId) -> list[FileAnalysis]:
        tx = self._tx()
        order = {j.id: (j.created_at, j.id) for j in self._jobs(project_id, None)}
        entries = [e for e in tx.scan("file_history") if e.job_id in order]
        entries.sort(key=lambda e: (order[e.job_id], str(e.file_id)))
        return [
            FileAnalysis(job_id=e.job_id, file_id=e.file_id, deleted=e.change is FileChange.DELETED)
            for e in entries
        ]

    async def delete_jobs(self, job_ids: Sequence[JobId]) -> int:
        tx = self._tx()
        jobs = [tx.get(self.table, job_id) for job_id in dict.fromkeys(job_ids)]
        unfinished = [j for j in jobs if j is not None and not j.status.is_terminal]
        if unfinished:
            raise ValidationError(
                "job_ids",
                str(unfinished[0].id),
                f"names a {unfinished[0].status} job: only finished jobs are deleted",
            )
        found = [j for j in jobs if j is not None]
        for job in found:
            tx.delete(self.table, job.id)
        return len(found)


# --------------------------------------------------------------------------- rules


class MemoryRuleRepository(_Base):
    table = "rules"

    async def create(self, rule: Rule) -> Rule:
        return self._create(rule)

    async def find_by_id(self, id: RuleId) -> Rule | None:
        row = self._get(id)
        return copied(row) if row is not None else None

    async def update(self, rule: Rule) -> Rule:
        return self._update_versioned(rule)

    async def delete(self, id: RuleId) -> None:
        self._tx().delete(self.table, id)

    async def upsert_many(self, rules: Sequence[Rule]) -> int:
        tx = self._tx()
        now = self._db.now()
        latest = {rule.id: rule for rule in rules}
        for rule in latest.values():
            known = tx.get(self.table, rule.id)
            if known is None:
                tx.insert(self.table, rule)
            else:
                tx.replace(
                    self.table, attrs.evolve(rule, created_at=known.created_at, updated_at=now)
                )
        return len(latest)

    async def list(
        self,
        *,
        category: Category | None = None,
        language: ProgrammingLanguage | None = None,
        enabled: bool | None = None,
    ) -> list[Rule]:
        rows = [
            r
            for r in self._tx().scan(self.table)
            if (category is None or r.category == category)
            and (language is None or language in r.languages)
            and (enabled is None or r.is_enabled == enabled)
        ]
        return [copied(r) for r in sorted(rows, key=lambda r: r.id)]


class MemoryRuleConfigRepository(_Base):
    table = "project_rule_configs"

    def _find(self, project_id: ProjectId, rule_id: RuleId) -> Any:
        return self._tx().find_unique(self.table, ("project_id", "rule_id"), (project_id, rule_id))

    async def find(self, project_id: ProjectId, rule_id: RuleId) -> ProjectRuleConfig | None:
        row = self._find(project_id, rule_id)
        return copied(row) if row is not None else None

    async def list_by_project(self, project_id: ProjectId) -> list[ProjectRuleConfig]:
        rows = [r for r in self._tx().scan(self.table) if r.project_id == project_id]
        return [copied(r) for r in sorted(rows, key=lambda r: r.rule_id)]

    async def upsert(self, config: ProjectRuleConfig) -> ProjectRuleConfig:
        tx = self._tx()
        known = self._find(config.project_id, config.rule_id)
        if known is None:
            return copied(tx.insert(self.table, config))
        row = attrs.evolve(
            config, id=known.id, created_at=known.created_at, updated_at=self._db.now()
        )
        return copied(tx.replace(self.table, row))

    async def delete(self, project_id: ProjectId, rule_id: RuleId) -> bool:
        row = self._find(project_id, rule_id)
        if row is None:
            return False
        self._tx().delete(self.table, row.id)
        return True
