"""Checks every adapter applies to bulk input before writing it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from domain.events import DomainEvent
from domain.files import FileIndex
from domain.ids import RepositoryId
from domain.projects import RepositoryBranch
from ports.errors import ValidationError

__all__ = ["CommitHook", "check_branches", "check_snapshot", "run_commit_hook"]

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
