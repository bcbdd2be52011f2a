"""Checks every adapter applies to bulk input before writing it."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence

from domain.events import DomainEvent
from domain.files import FileIndex
from domain.ids import RepositoryId
from domain.projects import RepositoryBranch
from ports.errors import ValidationError

__all__ = [
    "MAX_OUTBOX_BATCH",
    "CommitHook",
    "check_branches",
    "check_limit",
    "check_snapshot",
    "run_commit_hook",
    "summary_since",
]

MAX_OUTBOX_BATCH = 10_000
MAX_SUMMARY_DAYS = 3650

log = logging.getLogger(__name__)

CommitHook = Callable[[Sequence[DomainEvent]], Awaitable[None]]
"""Called with a unit's events right after they committed (see run_commit_hook)."""


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
