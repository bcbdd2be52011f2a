"""PostgreSQL repositories of projects, git repositories and branches."""

from __future__ import annotations

from collections.abc import Sequence

from adapters.common import check_branches, check_limit
from adapters.postgres._sql import (
    Repo,
    columns,
    entity_params,
    fetch_page,
    insert_sql,
    plain,
    to_entity,
    update_sql,
)
from adapters.postgres.organizations import versioned_update
from domain.enums import ProjectStatus
from domain.ids import BranchId, OrganizationId, ProjectId, RepositoryId
from domain.projects import Project, Repository, RepositoryBranch
from ports.errors import NotFoundError
from ports.pagination import Page, PageRequest
from ports.repositories import PROJECT_SORTS, ProjectSearchFilters

__all__ = [
    "PostgresBranchRepository",
    "PostgresProjectRepository",
    "PostgresRepositoryRepository",
]

PROJECT_COLUMNS = (
    "id", "organization_id", "name", "slug", "description", "repository_url",
    "repository_type", "default_branch", "visibility", "status", "settings", "metadata",
    "created_at", "updated_at", "last_analyzed_at", "deleted_at",
)  # fmt: skip
PROJECT_JSON = ("settings", "metadata")
INSERT_PROJECT = insert_sql("projects", PROJECT_COLUMNS)
SELECT_PROJECT = (
    f"SELECT {columns(PROJECT_COLUMNS)} FROM projects WHERE id = %(id)s AND deleted_at IS NULL"
)
LOCK_PROJECT = SELECT_PROJECT + " FOR UPDATE"
SELECT_PROJECT_BY_SLUG = (
    f"SELECT {columns(PROJECT_COLUMNS)} FROM projects"
    " WHERE organization_id = %(organization_id)s AND slug = %(slug)s AND deleted_at IS NULL"
)
UPDATE_PROJECT = update_sql(
    "projects",
    PROJECT_COLUMNS,
    where="id = %(id)s AND updated_at = %(updated_at)s AND deleted_at IS NULL",
)
PROJECT_EXISTS = "SELECT 1 AS found FROM projects WHERE id = %(id)s AND deleted_at IS NULL"
SOFT_DELETE_PROJECT = (
    "UPDATE projects SET deleted_at = clock_timestamp() WHERE id = %(id)s AND deleted_at IS NULL"
)
LIST_PROJECTS = (
    f"SELECT {columns(PROJECT_COLUMNS)} FROM projects"
    " WHERE organization_id = %(organization_id)s AND deleted_at IS NULL"
    " AND (%(status)s::text IS NULL OR status = %(status)s)"
)
# the document expression repeats the one of idx_projects_words; the query splits on
# hyphens as the document splits the slug, so that a slug ("billing-core") finds its project
SEARCH_PROJECTS = f"""
SELECT {columns(PROJECT_COLUMNS, "p")}
FROM projects p, plainto_tsquery('english', translate(%(text)s, '-', ' ')) q
WHERE to_tsvector('english',
        p.name || ' ' || translate(p.slug, '-', ' ') || ' ' || COALESCE(p.description, '')) @@ q
  AND p.deleted_at IS NULL
  AND (%(organization_id)s::uuid IS NULL OR p.organization_id = %(organization_id)s)
  AND (%(status)s::text IS NULL OR p.status = %(status)s)
  AND (%(visibility)s::text IS NULL OR p.visibility = %(visibility)s)
ORDER BY ts_rank(to_tsvector('english',
        p.name || ' ' || translate(p.slug, '-', ' ') || ' ' || COALESCE(p.description, '')), q)
        DESC, p.name COLLATE "C", p.id
LIMIT %(limit)s
"""

REPOSITORY_COLUMNS = (
    "id", "project_id", "local_path", "remote_url", "current_commit", "default_branch",
    "size_bytes", "file_count", "last_sync_at", "sync_status", "sync_error",
    "created_at", "updated_at",
)  # fmt: skip
INSERT_REPOSITORY = insert_sql("repositories", REPOSITORY_COLUMNS)
SELECT_REPOSITORY = f"SELECT {columns(REPOSITORY_COLUMNS)} FROM repositories WHERE id = %(id)s"
UPDATE_REPOSITORY = update_sql(
    "repositories", REPOSITORY_COLUMNS, where="id = %(id)s AND updated_at = %(updated_at)s"
)
REPOSITORY_EXISTS = "SELECT 1 AS found FROM repositories WHERE id = %(id)s"
DELETE_REPOSITORY = "DELETE FROM repositories WHERE id = %(id)s"
LIST_REPOSITORIES = (
    f"SELECT {columns(REPOSITORY_COLUMNS)} FROM repositories"
    " WHERE project_id = %(project_id)s ORDER BY created_at, id"
)

BRANCH_COLUMNS = (
    "id", "repository_id", "name", "commit_hash", "is_default", "is_protected",
    "last_commit_at", "created_at",
)  # fmt: skip
SELECT_BRANCH = (
    f"SELECT {columns(BRANCH_COLUMNS)} FROM repository_branches"
    " WHERE repository_id = %(repository_id)s AND name = %(name)s"
)
LIST_BRANCHES = (
    f"SELECT {columns(BRANCH_COLUMNS)} FROM repository_branches"
    ' WHERE repository_id = %(repository_id)s ORDER BY name COLLATE "C"'
)
LOCK_REPOSITORY = "SELECT id FROM repositories WHERE id = %(id)s FOR UPDATE"
DELETE_OTHER_BRANCHES = (
    "DELETE FROM repository_branches"
    " WHERE repository_id = %(repository_id)s AND NOT (name = ANY(%(names)s))"
)
UPSERT_BRANCH = (
    f"INSERT INTO repository_branches ({columns(BRANCH_COLUMNS)})"
    f" VALUES ({', '.join(f'%({c})s' for c in BRANCH_COLUMNS)})"
    " ON CONFLICT (repository_id, name) DO UPDATE SET commit_hash = EXCLUDED.commit_hash,"
    " is_default = EXCLUDED.is_default, is_protected = EXCLUDED.is_protected,"
    " last_commit_at = EXCLUDED.last_commit_at"
)
DELETE_BRANCH = "DELETE FROM repository_branches WHERE id = %(id)s"


class PostgresProjectRepository(Repo):
    async def create(self, project: Project) -> Project:
        row = await self._one(INSERT_PROJECT, entity_params(project, json=PROJECT_JSON))
        assert row is not None
        return to_entity(row, Project)

    async def find_by_id(self, id: ProjectId) -> Project | None:
        row = await self._read_one(SELECT_PROJECT, {"id": id})
        return to_entity(row, Project) if row else None

    async def find_by_slug(self, organization_id: OrganizationId, slug: str) -> Project | None:
        row = await self._read_one(
            SELECT_PROJECT_BY_SLUG, {"organization_id": organization_id, "slug": slug}
        )
        return to_entity(row, Project) if row else None

    async def lock(self, id: ProjectId) -> Project:
        row = await self._one(LOCK_PROJECT, {"id": id})
        if row is None:
            raise NotFoundError("project", id)
        return to_entity(row, Project)

    async def update(self, project: Project) -> Project:
        params = entity_params(project, json=PROJECT_JSON)
        result: Project = await versioned_update(
            self, UPDATE_PROJECT, params, PROJECT_EXISTS, "project", Project
        )
        return result

    async def delete(self, id: ProjectId) -> None:
        if not await self._rowcount(SOFT_DELETE_PROJECT, {"id": id}):
            raise NotFoundError("project", id)

    async def list_by_organization(
        self,
        organization_id: OrganizationId,
        page: PageRequest,
        *,
        status: ProjectStatus | None = None,
    ) -> Page[Project]:
        return await fetch_page(
            self, LIST_PROJECTS, {"organization_id": organization_id, "status": plain(status)},
            page, sorts=PROJECT_SORTS, text_sorts=frozenset({"name", "slug"}),
            convert=lambda r: to_entity(r, Project),
        )  # fmt: skip

    async def search(
        self, text: str, filters: ProjectSearchFilters | None = None, *, limit: int = 20
    ) -> list[Project]:
        check_limit(limit)
        f = filters or ProjectSearchFilters()
        rows = await self._all(
            SEARCH_PROJECTS,
            {
                "text": text,
                "organization_id": f.organization_id,
                "status": plain(f.status),
                "visibility": plain(f.visibility),
                "limit": limit,
            },
        )
        return [to_entity(r, Project) for r in rows]


class PostgresRepositoryRepository(Repo):
    async def create(self, repository: Repository) -> Repository:
        row = await self._one(INSERT_REPOSITORY, entity_params(repository))
        assert row is not None
        return to_entity(row, Repository)

    async def find_by_id(self, id: RepositoryId) -> Repository | None:
        row = await self._read_one(SELECT_REPOSITORY, {"id": id})
        return to_entity(row, Repository) if row else None

    async def update(self, repository: Repository) -> Repository:
        result: Repository = await versioned_update(
            self, UPDATE_REPOSITORY, entity_params(repository), REPOSITORY_EXISTS,
            "repository", Repository,
        )  # fmt: skip
        return result

    async def delete(self, id: RepositoryId) -> None:
        if not await self._rowcount(DELETE_REPOSITORY, {"id": id}):
            raise NotFoundError("repository", id)

    async def list_by_project(self, project_id: ProjectId) -> list[Repository]:
        rows = await self._all(LIST_REPOSITORIES, {"project_id": project_id})
        return [to_entity(r, Repository) for r in rows]


class PostgresBranchRepository(Repo):
    async def find_by_name(self, repository_id: RepositoryId, name: str) -> RepositoryBranch | None:
        row = await self._read_one(SELECT_BRANCH, {"repository_id": repository_id, "name": name})
        return to_entity(row, RepositoryBranch) if row else None

    async def list_by_repository(self, repository_id: RepositoryId) -> list[RepositoryBranch]:
        rows = await self._all(LIST_BRANCHES, {"repository_id": repository_id})
        return [to_entity(r, RepositoryBranch) for r in rows]

    async def replace_all(
        self, repository_id: RepositoryId, branches: Sequence[RepositoryBranch]
    ) -> list[RepositoryBranch]:
        check_branches(repository_id, branches)
        if await self._one(LOCK_REPOSITORY, {"id": repository_id}) is None:
            raise NotFoundError("repository", repository_id)
        names = [b.name for b in branches]
        await self._rowcount(
            DELETE_OTHER_BRANCHES, {"repository_id": repository_id, "names": names}
        )
        await self._many(UPSERT_BRANCH, [entity_params(b) for b in branches])
        return await self.list_by_repository(repository_id)

    async def delete(self, id: BranchId) -> None:
        if not await self._rowcount(DELETE_BRANCH, {"id": id}):
            raise NotFoundError("repository branch", id)
