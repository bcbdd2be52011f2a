"""Projects, the git repositories they analyse, and their branches."""

from __future__ import annotations

import datetime as dt

import attrs

from domain import validation as v
from domain._base import Entity, utc_now
from domain.enums import (
    ProjectStatus,
    RepositoryType,
    SyncStatus,
    Visibility,
    to_project_status,
    to_repository_type,
    to_sync_status,
    to_visibility,
)
from domain.ids import BranchId, OrganizationId, ProjectId, RepositoryId, new_id
from domain.values import ProjectMetadata, ProjectSettings

__all__ = ["Project", "Repository", "RepositoryBranch"]


@attrs.define(kw_only=True, eq=False)
class Project(Entity):
    """A code base an organization analyses. Slugs are unique within the organization;
    deleting a project is a soft delete (``deleted_at`` set)."""

    id: ProjectId = attrs.field(factory=lambda: ProjectId(new_id()))
    organization_id: OrganizationId
    name: str = attrs.field(validator=v.text(max_length=255))
    slug: str = attrs.field(validator=v.slug(100))
    description: str | None = attrs.field(
        default=None, validator=v.optional(v.text(allow_empty=True))
    )
    repository_url: str = attrs.field(validator=v.text(max_length=4096))
    repository_type: RepositoryType = attrs.field(
        default=RepositoryType.GIT,
        converter=to_repository_type,
        validator=v.enum_member(RepositoryType),
    )
    default_branch: str = attrs.field(default="main", validator=v.text(max_length=100))
    visibility: Visibility = attrs.field(
        default=Visibility.PRIVATE,
        converter=to_visibility,
        validator=v.enum_member(Visibility),
    )
    status: ProjectStatus = attrs.field(
        default=ProjectStatus.ACTIVE,
        converter=to_project_status,
        validator=v.enum_member(ProjectStatus),
    )
    settings: ProjectSettings = attrs.Factory(ProjectSettings)
    metadata: ProjectMetadata = attrs.Factory(ProjectMetadata)
    created_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    updated_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    last_analyzed_at: dt.datetime | None = attrs.field(
        default=None, validator=v.optional(v.aware_datetime())
    )
    deleted_at: dt.datetime | None = attrs.field(
        default=None, validator=v.optional(v.aware_datetime())
    )

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


@attrs.define(kw_only=True, eq=False)
class Repository(Entity):
    """A clone of a project's repository: where it lives and how far it is synced."""

    id: RepositoryId = attrs.field(factory=lambda: RepositoryId(new_id()))
    project_id: ProjectId
    local_path: str = attrs.field(validator=v.text(max_length=4096))
    remote_url: str = attrs.field(validator=v.text(max_length=4096, allow_empty=True))
    current_commit: str | None = attrs.field(default=None, validator=v.optional(v.hex_digest(40)))
    default_branch: str = attrs.field(validator=v.text(max_length=100))
    size_bytes: int = attrs.field(default=0, validator=v.int_range(0, (1 << 63) - 1))
    file_count: int = attrs.field(default=0, validator=v.int_range(0, (1 << 31) - 1))
    last_sync_at: dt.datetime | None = attrs.field(
        default=None, validator=v.optional(v.aware_datetime())
    )
    sync_status: SyncStatus = attrs.field(
        default=SyncStatus.PENDING,
        converter=to_sync_status,
        validator=v.enum_member(SyncStatus),
    )
    sync_error: str | None = None
    created_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
    updated_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())


@attrs.define(kw_only=True, eq=False)
class RepositoryBranch(Entity):
    """A branch of a repository and the commit it points at; names unique per repository."""

    id: BranchId = attrs.field(factory=lambda: BranchId(new_id()))
    repository_id: RepositoryId
    name: str = attrs.field(validator=v.text(max_length=255))
    commit_hash: str = attrs.field(validator=v.hex_digest(40))
    is_default: bool = False
    is_protected: bool = False
    last_commit_at: dt.datetime | None = attrs.field(
        default=None, validator=v.optional(v.aware_datetime())
    )
    created_at: dt.datetime = attrs.field(factory=utc_now, validator=v.aware_datetime())
