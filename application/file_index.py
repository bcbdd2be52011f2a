"""Use case of the file index: record a repository's files as they are now."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import attrs

from application._checks import instance_of
from application._lookup import require_repository
from domain._base import utc_now
from domain.enums import SyncStatus
from domain.errors import ValidationError
from domain.events import FileChanged, FileIndexSnapshotRecorded
from domain.files import FileIndex
from domain.ids import RepositoryId
from domain.reports import SnapshotResult
from ports.unit_of_work import UnitOfWork

__all__ = ["record_file_snapshot"]


async def record_file_snapshot(
    uow: UnitOfWork, repository_id: RepositoryId, files: Sequence[FileIndex]
) -> SnapshotResult:
    """Make the repository's file index exactly ``files`` in one bulk write.

    New paths are added, paths whose hash changed are updated, paths absent from ``files``
    are removed. The repository's ``file_count``, ``size_bytes`` and ``last_sync_at`` are
    updated and its status becomes SYNCED. Raises FileChanged for every modified and
    removed file and one FileIndexSnapshotRecorded. Files of another repository or a
    repeated path raise ValidationError before anything is written.
    """
    _check_snapshot(repository_id, files)
    async with uow:
        # the snapshot locks the repository's row first, so concurrent snapshots of one
        # repository queue here instead of failing on each other's counters
        result = await uow.files.upsert_snapshot(repository_id, files, prune=True)
        repository = await require_repository(uow, repository_id)
        counted = attrs.evolve(
            repository,
            file_count=len(files),
            size_bytes=sum(f.size_bytes for f in files),
            last_sync_at=utc_now(),
            sync_status=SyncStatus.SYNCED,
            sync_error=None,
        )
        await uow.repositories.update(counted)
        for change, refs in (("modified", result.modified), ("removed", result.removed)):
            for ref in refs:
                uow.add_event(
                    FileChanged(
                        file_id=ref.id,
                        repository_id=repository_id,
                        project_id=repository.project_id,
                        relative_path=ref.relative_path,
                        change=change,
                    )
                )
        uow.add_event(
            FileIndexSnapshotRecorded(
                repository_id=repository_id,
                project_id=repository.project_id,
                added=len(result.added),
                modified=len(result.modified),
                removed=len(result.removed),
                unchanged=result.unchanged,
            )
        )
        await uow.commit()
    return result


def _check_snapshot(repository_id: RepositoryId, files: Sequence[FileIndex]) -> None:
    for file in files:
        instance_of("files", file, FileIndex)
        if file.repository_id != repository_id:
            raise ValidationError(
                "repository_id",
                file.repository_id,
                f"must be the snapshot's repository {repository_id} ({file.relative_path})",
                entity="FileIndex",
            )
    repeated = sorted(p for p, n in Counter(f.relative_path for f in files).items() if n > 1)
    if repeated:
        raise ValidationError(
            "relative_path", repeated, "must be unique within a snapshot", entity="FileIndex"
        )
