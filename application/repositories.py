"""Use cases of git repositories: register one with its branches, record a sync."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence

import attrs

from application._boundary import service
from application._lookup import require_project, require_repository
from domain._base import utc_now
from domain.enums import SyncStatus
from domain.errors import ValidationError
from domain.events import RepositoryRegistered, RepositorySynced
from domain.ids import ProjectId, RepositoryId
from domain.projects import Repository, RepositoryBranch
from ports.unit_of_work import UnitOfWork

__all__ = ["BranchSpec", "register_repository", "sync_repository"]


@attrs.frozen(kw_only=True)
class BranchSpec:
    """A branch as seen in the clone; validated when it becomes a RepositoryBranch."""

    name: str
    commit_hash: str
    is_default: bool = False
    is_protected: bool = False
    last_commit_at: dt.datetime | None = None


@service
async def register_repository(
    uow: UnitOfWork,
    project_id: ProjectId,
    *,
    local_path: str,
    remote_url: str,
    default_branch: str,
    current_commit: str | None = None,
    branches: Sequence[BranchSpec] = (),
) -> Repository:
    """Register a clone of an existing project's repository with its branches
    (RepositoryRegistered). When branches are given, exactly one is the default and it is
    named ``default_branch``."""
    repository = Repository(
        project_id=project_id,
        local_path=local_path,
        remote_url=remote_url,
        default_branch=default_branch,
        current_commit=current_commit,
    )
    stored_branches = _branches(repository.id, branches)
    default = _default_name(stored_branches)
    if default is not None and default != repository.default_branch:
        raise ValidationError(
            "default_branch",
            default_branch,
            f"must be the branch marked default ({default!r})",
            entity="Repository",
        )
    async with uow:
        await require_project(uow, project_id)
        created = await uow.repositories.create(repository)
        await uow.branches.replace_all(created.id, stored_branches)
        uow.add_event(RepositoryRegistered(repository_id=created.id, project_id=project_id))
        await uow.commit()
    return created


@service
async def sync_repository(
    uow: UnitOfWork,
    repository_id: RepositoryId,
    *,
    branches: Sequence[BranchSpec],
    current_commit: str | None,
) -> Repository:
    """Record a finished sync (RepositorySynced): the repository's branches become exactly
    ``branches`` (exactly one default when any, which becomes the repository's default
    branch), its commit ``current_commit``, its status SYNCED. Returns it as stored."""
    stored_branches = _branches(repository_id, branches)
    default = _default_name(stored_branches)
    async with uow:
        repository = await require_repository(uow, repository_id)
        synced = attrs.evolve(
            repository,
            current_commit=current_commit,
            default_branch=default if default is not None else repository.default_branch,
            sync_status=SyncStatus.SYNCED,
            sync_error=None,
            last_sync_at=utc_now(),
        )
        await uow.branches.replace_all(repository_id, stored_branches)
        updated = await uow.repositories.update(synced)
        uow.add_event(
            RepositorySynced(
                repository_id=repository_id,
                project_id=repository.project_id,
                commit=current_commit,
                branches=len(stored_branches),
            )
        )
        await uow.commit()
    return updated


def _branches(repository_id: RepositoryId, specs: Sequence[BranchSpec]) -> list[RepositoryBranch]:
    """The specs as branches of the repository; ValidationError on ``branches`` unless the
    names are unique and, if there are any, exactly one is the default."""
    branches = [
        RepositoryBranch(
            repository_id=repository_id,
            name=spec.name,
            commit_hash=spec.commit_hash,
            is_default=spec.is_default,
            is_protected=spec.is_protected,
            last_commit_at=spec.last_commit_at,
        )
        for spec in specs
    ]
    repeated = sorted(n for n, k in Counter(b.name for b in branches).items() if k > 1)
    if repeated:
        raise ValidationError("branches", repeated, "names must be unique", entity="Repository")
    defaults = [b.name for b in branches if b.is_default]
    if branches and len(defaults) != 1:
        raise ValidationError(
            "branches",
            defaults,
            f"exactly one branch must be the default (found {len(defaults)})",
            entity="Repository",
        )
    return branches


def _default_name(branches: Sequence[RepositoryBranch]) -> str | None:
    return next((b.name for b in branches if b.is_default), None)
