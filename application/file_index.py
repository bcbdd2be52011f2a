"""Use case of the file index: record a repository's files as they are now."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import attrs

from application._boundary import service
from application._lookup import require_repository
from domain._base import utc_now
from domain.enums import SyncStatus
from domain.errors import ValidationError
from domain.events import FileChanged, FileIndexSnapshotRecorded
from domain.files import FileIndex
from domain.ids import RepositoryId
from domain.reports import SnapshotResult
from domain.validation import check_instance
from ports.unit_of_work import UnitOfWork

__all__ = ["FileSnapshot", "record_file_snapshot"]


def _files(files: Iterable[FileIndex]) -> tuple[FileIndex, ...]:
    return tuple(files)


@attrs.frozen
class FileSnapshot:
    """Every file of a repository as it is now (the files not listed are removed).

    A file's ``id`` says which stored file it is: a known file at a new path keeps the
    id it had (a rename), a known path keeps its file's id. Files of another repository
    or a repeated path raise ValidationError."""

    repository_id: RepositoryId
    files: tuple[FileIndex, ...] = attrs.field(converter=_files)

    def __attrs_post_init__(self) -> None:
        for file in self.files:
            check_instance("files", file, FileIndex)
            if file.repository_id != self.repository_id:
                raise ValidationError(
                    "repository_id",
                    file.repository_id,
                    f"must be the snapshot's repository {self.repository_id}"
                    f" ({file.relative_path})",
                    entity="FileIndex",
                )
        paths = Counter(f.relative_path for f in self.files)
        repeated = sorted(p for p, n in paths.items() if n > 1)
        if repeated:
            raise ValidationError(
                "relative_path", repeated, "must be unique within a snapshot", entity="FileIndex"
            )


@service
async def record_file_snapshot(
    uow: UnitOfWork, repository_id: RepositoryId, files: Sequence[FileIndex]
) -> SnapshotResult:
    """Make the repository's file index exactly ``files`` in one bulk write.

    New paths are added, changed files updated, renames and returning paths keep their
    file's identity, and files absent from ``files`` are marked deleted (they keep their
    history). The repository's ``file_count``, ``size_bytes`` and ``last_sync_at`` are
    updated and its status becomes SYNCED. Raises FileChanged for every modified, renamed
    and removed file and one FileIndexSnapshotRecorded. Files of another repository or a
    repeated path raise ValidationError before anything is written.
    """
    snapshot = FileSnapshot(repository_id, files)
    async with uow:
        result = await apply_snapshot(uow, snapshot)
        await uow.commit()
    return result


async def apply_snapshot(uow: UnitOfWork, snapshot: FileSnapshot) -> SnapshotResult:
    """Record ``snapshot`` inside the caller's (active) unit of work, with the repository's
    counters and the events (see :func:`record_file_snapshot`)."""
    repository_id = snapshot.repository_id
    # the snapshot locks the repository's row first, so concurrent snapshots of one
    # repository queue here instead of failing on each other's counters
    result = await uow.files.upsert_snapshot(repository_id, snapshot.files, prune=True)
    repository = await require_repository(uow, repository_id)
    counted = attrs.evolve(
        repository,
        file_count=len(snapshot.files),
        size_bytes=sum(f.size_bytes for f in snapshot.files),
        last_sync_at=utc_now(),
        sync_status=SyncStatus.SYNCED,
        sync_error=None,
    )
    await uow.repositories.update(counted)
    changes = (
        ("modified", result.modified),
        ("renamed", result.renamed),
        ("restored", result.restored),
        ("removed", result.removed),
    )
    for change, refs in changes:
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
            modified=len(result.modified) + len(result.renamed) + len(result.restored),
            removed=len(result.removed),
            unchanged=result.unchanged,
        )
    )
    return result
