"""Repository (git clone) services, against the in-memory store."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application import BranchSpec, register_repository, sync_repository
from domain.enums import SyncStatus
from domain.errors import ValidationError
from domain.events import RepositoryRegistered, RepositorySynced
from domain.ids import ProjectId, RepositoryId, new_id
from domain.projects import Project, Repository, RepositoryBranch
from ports.errors import NotFoundError
from tests.unit.fakes import Committed, Events

COMMIT_A = "a" * 40
COMMIT_B = "b" * 40

MAIN = BranchSpec(name="main", commit_hash=COMMIT_A, is_default=True, is_protected=True)
DEV = BranchSpec(name="develop", commit_hash=COMMIT_A)


async def _register(
    uow: MemoryUnitOfWork, project: Project, branches: Sequence[BranchSpec] = (MAIN, DEV)
) -> Repository:
    return await register_repository(
        uow,
        project.id,
        local_path="/srv/clones/billing",
        remote_url="https://git.example.com/acme/billing.git",
        default_branch="main",
        current_commit=COMMIT_A,
        branches=branches,
    )


async def _branches(db: MemoryDatabase, repository_id: RepositoryId) -> list[RepositoryBranch]:
    async with MemoryUnitOfWork(db, system=True) as fresh:
        return await fresh.branches.list_by_repository(repository_id)


async def test_register_repository_stores_it_with_its_branches(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project, events: Events
) -> None:
    """The repository and its branches read back, and RepositoryRegistered follows."""
    repository = await _register(uow, project)
    async with MemoryUnitOfWork(db, system=True) as fresh:
        stored = await fresh.repositories.find_by_id(repository.id)
    assert stored is not None and stored.current_commit == COMMIT_A
    branches = await _branches(db, repository.id)
    assert {(b.name, b.is_default) for b in branches} == {("main", True), ("develop", False)}
    [event] = await events()
    assert isinstance(event, RepositoryRegistered)
    assert (event.repository_id, event.project_id) == (repository.id, project.id)


@pytest.mark.parametrize(
    "branches",
    [
        (DEV,),
        (MAIN, BranchSpec(name="release", commit_hash=COMMIT_A, is_default=True)),
    ],
    ids=["no-default", "two-defaults"],
)
async def test_register_repository_needs_exactly_one_default_branch(
    uow: MemoryUnitOfWork, project: Project, committed: Committed, branches: tuple[BranchSpec, ...]
) -> None:
    """Branches without a default, or with two, raise ValidationError on ``branches``."""
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await _register(uow, project, branches)
    assert caught.value.field == "branches"
    assert committed() == before


async def test_register_repository_rejects_a_bad_commit_hash(
    uow: MemoryUnitOfWork, project: Project, committed: Committed
) -> None:
    """A branch commit that is not 40 hex digits raises ValidationError on ``commit_hash``."""
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await _register(
            uow, project, (BranchSpec(name="main", commit_hash="xyz", is_default=True),)
        )
    assert caught.value.field == "commit_hash"
    assert committed() == before


async def test_register_repository_needs_an_existing_project(
    uow: MemoryUnitOfWork, project: Project, committed: Committed
) -> None:
    """A repository of an unknown project raises NotFoundError naming the project."""
    before = committed()
    with pytest.raises(NotFoundError) as caught:
        await register_repository(
            uow, ProjectId(new_id()), local_path="/x", remote_url="", default_branch="main"
        )
    assert caught.value.entity == "project"
    assert committed() == before


async def test_sync_repository_replaces_branches_and_marks_it_synced(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project, events: Events
) -> None:
    """After a sync the branches are exactly those seen, and commit and status are updated."""
    repository = await _register(uow, project)
    trunk = BranchSpec(name="trunk", commit_hash=COMMIT_B, is_default=True)
    synced = await sync_repository(
        uow,
        repository.id,
        branches=[trunk, BranchSpec(name="main", commit_hash=COMMIT_B)],
        current_commit=COMMIT_B,
    )
    assert synced.sync_status is SyncStatus.SYNCED
    async with MemoryUnitOfWork(db, system=True) as fresh:
        stored = await fresh.repositories.find_by_id(repository.id)
    assert stored is not None
    assert (stored.current_commit, stored.default_branch) == (COMMIT_B, "trunk")
    assert stored.sync_status is SyncStatus.SYNCED and stored.last_sync_at is not None
    branches = await _branches(db, repository.id)
    assert [(b.name, b.is_default) for b in branches] == [("main", False), ("trunk", True)]
    last = (await events())[-1]
    assert isinstance(last, RepositorySynced)
    assert (last.commit, last.branches) == (COMMIT_B, 2)


async def test_sync_repository_rejects_repeated_branch_names(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project, committed: Committed
) -> None:
    """Two branches of the same name raise ValidationError on ``branches``, nothing written."""
    repository = await _register(uow, project)
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await sync_repository(uow, repository.id, branches=[MAIN, MAIN], current_commit=COMMIT_B)
    assert caught.value.field == "branches"
    assert committed() == before


async def test_sync_of_a_missing_repository_raises_not_found(uow: MemoryUnitOfWork) -> None:
    """Syncing an unknown repository raises NotFoundError naming the repository."""
    with pytest.raises(NotFoundError) as caught:
        await sync_repository(uow, RepositoryId(new_id()), branches=[], current_commit=None)
    assert caught.value.entity == "repository"
