"""Checks every adapter applies to bulk input before writing it."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence

import attrs

from domain.events import DomainEvent
from domain.files import FileIndex
from domain.ids import FileId, OrganizationId, RepositoryId
from domain.projects import RepositoryBranch
from domain.reports import FileRef, FileRename, SnapshotResult
from domain.validation import check_instance, check_text
from ports.errors import NotFoundError, ValidationError

__all__ = [
    "MAX_OUTBOX_BATCH",
    "UNIT_ENDED",
    "CommitHook",
    "SnapshotPlan",
    "StoredFile",
    "check_branches",
    "check_limit",
    "check_reachable",
    "check_snapshot",
    "check_unit_scope",
    "plan_snapshot",
    "run_commit_hook",
    "summary_since",
]

MAX_OUTBOX_BATCH = 10_000
MAX_SUMMARY_DAYS = 3650

log = logging.getLogger(__name__)

CommitHook = Callable[[Sequence[DomainEvent]], Awaitable[None]]
"""Called with a unit's events right after they committed (see run_commit_hook)."""


def check_unit_scope(
    actor: str | None, organization_id: OrganizationId | None, system: bool
) -> None:
    """What a unit of work is made with: the audit actor (a name of at most 255
    characters, or None) and its scope, stated explicitly: one organization (a UUID) or
    the system scope of cross-organization work (``system=True``), never both, never
    neither."""
    if actor is not None:
        check_text("actor", actor, max_length=255)
    if not isinstance(system, bool):
        raise ValidationError("system", system, "must be True or False")
    if organization_id is None and not system:
        raise ValidationError(
            "organization_id",
            None,
            "a unit of work is opened for one organization (organization_id=...) or,"
            " for cross-organization work, in the system scope (system=True)",
        )
    if organization_id is not None:
        check_instance("organization_id", organization_id, uuid.UUID)
        if system:
            raise ValidationError("system", system, "cannot go with an organization_id")


def check_reachable(scope: OrganizationId | None, organization_id: OrganizationId) -> None:
    """That a unit of ``scope`` (None: the system scope) may hand work to a unit of
    ``organization_id``: the system scope reaches every organization, an organization's
    unit its own alone (another is not there for it: NotFoundError)."""
    check_instance("organization_id", organization_id, uuid.UUID)
    if scope is not None and scope != organization_id:
        raise NotFoundError("organization", organization_id)


UNIT_ENDED = (
    "the unit's transaction ended with its commit or rollback: leave the 'async with'"
    " block, and enter the unit again for another transaction"
)
"""The RuntimeError of a repository used after its unit's transaction ended."""


async def run_commit_hook(hook: CommitHook | None, events: Sequence[DomainEvent]) -> None:
    """Hand committed ``events`` to ``hook``, best effort: a failure is logged, not raised
    (the commit stands, and the outbox relay delivers the events again)."""
    if hook is None or not events:
        return
    try:
        await hook(events)
    except Exception as exc:
        log.warning("handling committed events failed, the outbox relay will retry: %s", exc)


def check_limit(limit: int, *, maximum: int = 1000) -> None:
    """ValidationError unless ``limit`` is an int from 1 to ``maximum``."""
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= maximum:
        raise ValidationError("limit", limit, f"must be an integer from 1 to {maximum}")


def summary_since(days: int, now: dt.datetime | None) -> dt.datetime:
    """The start of an issues-summary window of ``days`` days ending ``now`` (the current
    time by default); ValidationError unless ``days`` is an int from 1 to 3650."""
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_SUMMARY_DAYS:
        raise ValidationError("days", days, f"must be an integer from 1 to {MAX_SUMMARY_DAYS}")
    return (now or dt.datetime.now(dt.UTC)) - dt.timedelta(days=days)


def check_branches(repository_id: RepositoryId, branches: Sequence[RepositoryBranch]) -> None:
    """Every branch belongs to ``repository_id`` and names are unique."""
    names: set[str] = set()
    for branch in branches:
        if branch.repository_id != repository_id:
            raise ValidationError(
                "repository_id",
                branch.repository_id,
                f"branch {branch.name!r} belongs to another repository",
                entity="RepositoryBranch",
            )
        if branch.name in names:
            raise ValidationError("name", branch.name, "is given twice", entity="RepositoryBranch")
        names.add(branch.name)


def check_snapshot(repository_id: RepositoryId, files: Sequence[FileIndex]) -> None:
    """Every file belongs to ``repository_id`` and paths are unique."""
    paths: set[str] = set()
    for file in files:
        if file.repository_id != repository_id:
            raise ValidationError(
                "repository_id",
                file.repository_id,
                f"file {file.relative_path!r} belongs to another repository",
                entity="FileIndex",
            )
        if file.relative_path in paths:
            raise ValidationError(
                "relative_path",
                file.relative_path,
                "appears twice in the snapshot",
                entity="FileIndex",
            )
        paths.add(file.relative_path)


@attrs.frozen
class StoredFile:
    """What matching a snapshot needs of a stored file."""

    id: FileId
    relative_path: str
    file_hash: str
    deleted: bool
    created_at: dt.datetime
    updated_at: dt.datetime


@attrs.frozen(kw_only=True)
class SnapshotPlan:
    """The writes that record a snapshot: files to insert, files to overwrite (each with
    the identity of the stored file it matched), files to mark deleted, and the result.
    ``vacate`` are the stored files whose path changes or that are deleted: an adapter
    that checks unique paths row by row frees their paths first, so that renames may
    exchange paths."""

    inserts: tuple[FileIndex, ...]
    updates: tuple[FileIndex, ...]
    deletes: tuple[FileId, ...]
    vacate: tuple[FileId, ...]
    result: SnapshotResult


def plan_snapshot(
    stored: Sequence[StoredFile], files: Sequence[FileIndex], *, prune: bool
) -> SnapshotPlan:
    """Match ``files`` to the ``stored`` files of their repository as
    :meth:`ports.repositories.FileIndexRepository.upsert_snapshot` says: by id, else by
    path among the live files, else by path among the deleted ones."""
    by_id = {f.id: f for f in stored}
    live_by_path = {f.relative_path: f for f in stored if not f.deleted}
    deleted_by_path: dict[str, StoredFile] = {}
    for f in sorted((f for f in stored if f.deleted), key=lambda f: (f.updated_at, f.id)):
        deleted_by_path[f.relative_path] = f  # the most recently deleted wins
    matches: dict[int, StoredFile] = {}
    claimed: set[FileId] = set()
    for i, file in enumerate(files):
        known = by_id.get(file.id)
        if known is not None:
            matches[i] = known
            claimed.add(known.id)
    for lookup in (live_by_path, deleted_by_path):
        for i, file in enumerate(files):
            known = lookup.get(file.relative_path)
            if i not in matches and known is not None and known.id not in claimed:
                matches[i] = known
                claimed.add(known.id)
    inserts: list[FileIndex] = []
    updates: list[FileIndex] = []
    vacate: list[FileId] = []
    added: list[FileRef] = []
    modified: list[FileRef] = []
    renamed: list[FileRename] = []
    restored: list[FileRef] = []
    unchanged = 0
    for i, file in enumerate(files):
        known = matches.get(i)
        if known is None:
            inserts.append(file)
            added.append(FileRef(file.id, file.relative_path))
            continue
        same_path = known.relative_path == file.relative_path
        if not known.deleted and same_path and known.file_hash == file.file_hash:
            unchanged += 1
            continue
        updates.append(attrs.evolve(file, id=known.id, created_at=known.created_at))
        if known.deleted:
            restored.append(FileRef(known.id, file.relative_path))
        elif not same_path:
            renamed.append(FileRename(known.id, file.relative_path, known.relative_path))
            vacate.append(known.id)
        else:
            modified.append(FileRef(known.id, file.relative_path))
    removed = (
        [FileRef(f.id, f.relative_path) for f in stored if not f.deleted and f.id not in claimed]
        if prune
        else []
    )
    vacate.extend(ref.id for ref in removed)
    by_path = lambda ref: ref.relative_path  # noqa: E731
    return SnapshotPlan(
        inserts=tuple(inserts),
        updates=tuple(updates),
        deletes=tuple(ref.id for ref in removed),
        vacate=tuple(vacate),
        result=SnapshotResult(
            added=tuple(sorted(added, key=by_path)),
            modified=tuple(sorted(modified, key=by_path)),
            renamed=tuple(sorted(renamed, key=by_path)),
            restored=tuple(sorted(restored, key=by_path)),
            removed=tuple(sorted(removed, key=by_path)),
            unchanged=unchanged,
        ),
    )
