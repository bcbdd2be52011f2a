"""The file-index snapshot service, against the in-memory store."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import cast

import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application import record_file_snapshot, register_repository
from domain.enums import SyncStatus
from domain.errors import ValidationError
from domain.events import FileChanged, FileIndexSnapshotRecorded
from domain.files import FileIndex
from domain.ids import RepositoryId, new_id
from domain.projects import Project, Repository
from ports.errors import NotFoundError
from ports.pagination import PageRequest
from tests.unit.fakes import Committed, Events

MODIFIED = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


def _file(repository_id: RepositoryId, path: str, content: str, size: int = 100) -> FileIndex:
    return FileIndex(
        repository_id=repository_id,
        relative_path=path,
        absolute_path=f"/srv/clones/billing/{path}",
        size_bytes=size,
        file_hash=hashlib.sha256(content.encode()).hexdigest(),
        last_modified=MODIFIED,
    )


@pytest.fixture
async def repository(uow: MemoryUnitOfWork, project: Project) -> Repository:
    return await register_repository(
        uow, project.id, local_path="/srv/clones/billing", remote_url="", default_branch="main"
    )


async def _indexed(
    db: MemoryDatabase, repository_id: RepositoryId
) -> tuple[dict[str, str], Repository]:
    async with MemoryUnitOfWork(db, system=True) as fresh:
        page = await fresh.files.list_by_repository(repository_id, PageRequest(limit=100))
        stored = await fresh.repositories.find_by_id(repository_id)
    assert stored is not None
    return {f.relative_path: f.file_hash for f in page}, stored


async def test_first_snapshot_adds_every_file_and_counts_them(
    db: MemoryDatabase, uow: MemoryUnitOfWork, repository: Repository, events: Events
) -> None:
    """A first snapshot adds all files, sets the repository's counters and status, and
    raises only FileIndexSnapshotRecorded (new files have nothing to invalidate)."""
    before = len(await events())
    files = [_file(repository.id, p, p, size=10 * (n + 1)) for n, p in enumerate("abc")]
    result = await record_file_snapshot(uow, repository.id, files)
    assert (len(result.added), result.unchanged) == (3, 0)
    indexed, stored = await _indexed(db, repository.id)
    assert set(indexed) == {"a", "b", "c"}
    assert (stored.file_count, stored.size_bytes) == (3, 60)
    assert stored.sync_status is SyncStatus.SYNCED and stored.last_sync_at is not None
    [event] = (await events())[before:]
    assert isinstance(event, FileIndexSnapshotRecorded)
    assert (event.added, event.modified, event.removed, event.unchanged) == (3, 0, 0, 0)


async def test_next_snapshot_reports_modified_and_removed_files(
    db: MemoryDatabase, uow: MemoryUnitOfWork, repository: Repository, events: Events
) -> None:
    """A changed hash is a modification, a missing path a removal: each raises FileChanged,
    and the summary event counts every kind of change."""
    first = [_file(repository.id, p, "v1") for p in ("keep.py", "edit.py", "gone.py")]
    await record_file_snapshot(uow, repository.id, first)
    before = len(await events())
    second = [
        _file(repository.id, "keep.py", "v1"),
        _file(repository.id, "edit.py", "v2", size=250),
        _file(repository.id, "new.py", "v1"),
    ]
    result = await record_file_snapshot(uow, repository.id, second)
    assert [r.relative_path for r in result.modified] == ["edit.py"]
    assert [r.relative_path for r in result.removed] == ["gone.py"]
    indexed, stored = await _indexed(db, repository.id)
    assert set(indexed) == {"keep.py", "edit.py", "new.py"}
    assert indexed["edit.py"] == second[1].file_hash
    assert (stored.file_count, stored.size_bytes) == (3, 450)
    published = (await events())[before:]
    changes = {(e.relative_path, e.change) for e in published if isinstance(e, FileChanged)}
    assert changes == {("edit.py", "modified"), ("gone.py", "removed")}
    [summary] = [e for e in published if isinstance(e, FileIndexSnapshotRecorded)]
    assert (summary.added, summary.modified, summary.removed, summary.unchanged) == (1, 1, 1, 1)
    assert all(
        cast(FileChanged | FileIndexSnapshotRecorded, e).project_id == repository.project_id
        for e in published
    )


async def test_snapshot_with_a_repeated_path_writes_nothing(
    uow: MemoryUnitOfWork, repository: Repository, committed: Committed
) -> None:
    """Two files with one path raise ValidationError on ``relative_path``."""
    files = [_file(repository.id, "a.py", "1"), _file(repository.id, "a.py", "2")]
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await record_file_snapshot(uow, repository.id, files)
    assert caught.value.field == "relative_path"
    assert committed() == before


async def test_snapshot_with_a_file_of_another_repository_writes_nothing(
    uow: MemoryUnitOfWork, repository: Repository, committed: Committed
) -> None:
    """A file of another repository raises ValidationError on ``repository_id``."""
    files = [_file(repository.id, "a.py", "1"), _file(RepositoryId(new_id()), "b.py", "2")]
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await record_file_snapshot(uow, repository.id, files)
    assert caught.value.field == "repository_id"
    assert committed() == before


async def test_snapshot_of_a_missing_repository_raises_not_found(
    uow: MemoryUnitOfWork, committed: Committed
) -> None:
    """A snapshot of an unknown repository raises NotFoundError naming the repository."""
    missing = RepositoryId(new_id())
    before = committed()
    with pytest.raises(NotFoundError) as caught:
        await record_file_snapshot(uow, missing, [_file(missing, "a.py", "1")])
    assert caught.value.entity == "repository"
    assert committed() == before
