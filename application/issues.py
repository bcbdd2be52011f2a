"""Use cases of tracked issues: list a branch's issues, read one with its changelog, and
triage one (confirm, resolve, reopen, comment).

Analyses move issues as they find them (:mod:`application.tracking`); a user's triage is
recorded in the issue's changelog under the unit's actor, and outlives every later
analysis.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from application._boundary import service
from application._lookup import require_project
from application.quality import branch_of, check_branch
from domain.enums import IssueStatus, Resolution, Severity, to_issue_status
from domain.errors import ValidationError
from domain.ids import IssueId, ProjectId
from domain.issues import Issue, IssueChange
from domain.validation import check_text
from ports.errors import NotFoundError
from ports.pagination import Page, PageRequest
from ports.repositories import IssueFilters
from ports.unit_of_work import UnitOfWork

__all__ = [
    "DEFAULT_ACTOR",
    "UNRESOLVED",
    "IssueDetail",
    "change_issue",
    "issue_detail",
    "list_issues",
]

DEFAULT_ACTOR = "user"
"""Who a triage is recorded as when the unit of work names no actor."""

UNRESOLVED: tuple[IssueStatus, ...] = (
    IssueStatus.OPEN,
    IssueStatus.CONFIRMED,
    IssueStatus.REOPENED,
)
"""The statuses :func:`list_issues` lists when it is given none."""

MAX_COMMENT = 4000


@attrs.frozen(kw_only=True)
class IssueDetail:
    """An issue and its changelog, oldest change first."""

    issue: Issue
    changelog: tuple[IssueChange, ...]


@service
async def list_issues(
    uow: UnitOfWork,
    project_id: ProjectId,
    *,
    branch: str | None = None,
    statuses: Sequence[IssueStatus] | None = None,
    min_severity: Severity | None = None,
    new_code: bool | None = None,
    page: PageRequest | None = None,
) -> Page[Issue]:
    """One keyset page of the branch's issues (the branch of the project's latest
    completed analysis when None, "" naming a detached HEAD) of ``statuses`` (the
    unresolved ones when None), at least ``min_severity``, on new code or not; sorted by
    one of ISSUE_SORTS (the most severe first by default). NotFoundError for an unknown
    project."""
    check_branch(branch)
    wanted = UNRESOLVED if statuses is None else tuple(to_issue_status(s) for s in statuses)
    if not wanted:
        raise ValidationError("statuses", list(statuses or ()), "must name at least one status")
    async with uow:
        await require_project(uow, project_id)
        filters = IssueFilters(
            branch=await branch_of(uow, project_id, branch),
            statuses=wanted,
            min_severity=min_severity,
            new_code=new_code,
        )
        return await uow.issues.list(project_id, page or PageRequest(), filters=filters)


@service
async def issue_detail(uow: UnitOfWork, issue_id: IssueId) -> IssueDetail:
    """The issue with its changelog; NotFoundError if there is no such issue."""
    async with uow:
        issue = await uow.issues.find_by_id(issue_id)
        if issue is None:
            raise NotFoundError("issue", issue_id)
        changelog = await uow.issues.changelog(issue_id)
    return IssueDetail(issue=issue, changelog=tuple(changelog))


@service
async def change_issue(
    uow: UnitOfWork,
    issue_id: IssueId,
    *,
    confirm: bool = False,
    resolve: Resolution | None = None,
    reopen: bool = False,
    comment: str | None = None,
) -> IssueDetail:
    """Triage an issue: ``confirm`` it, ``resolve`` it (fixed, false positive, won't fix)
    or ``reopen`` it, exactly one of them, with ``comment`` as the reason; or comment on
    it alone. The move follows the issue's lifecycle (InvalidTransitionError, a
    ValidationError, for one it does not have: confirming a resolved issue, reopening an
    open one). The issue is locked while it changes, so concurrent triage queues; the
    change is recorded in its changelog under the unit's actor (``"user"`` when it names
    none), in the same unit of work as the issue. Returns the issue as stored with its
    changelog; NotFoundError if there is no such issue."""
    given = {"confirm": confirm or None, "resolve": resolve, "reopen": reopen or None}
    moves = [name for name, value in given.items() if value is not None]
    if len(moves) > 1:
        raise ValidationError(
            moves[1],
            given[moves[1]],
            f"cannot go with {moves[0]}: give one of confirm, resolve and reopen",
        )
    if comment is not None:
        check_text("comment", comment, max_length=MAX_COMMENT)
    elif not moves:
        raise ValidationError(
            "comment", None, "is required when none of confirm, resolve, reopen is given"
        )
    async with uow:
        issue = await uow.issues.lock(issue_id)
        actor = uow.actor or DEFAULT_ACTOR
        if confirm:
            change = issue.confirm(actor, comment=comment)
        elif resolve is not None:
            change = issue.resolve(resolve, actor, comment=comment)
        elif reopen:
            change = issue.reopen(actor, comment=comment)
        else:
            assert comment is not None
            change = issue.comment(actor, comment)
        if moves:
            await uow.issues.update_many([issue])
        await uow.issues.add_changes([change])
        stored = await uow.issues.find_by_id(issue_id)
        changelog = await uow.issues.changelog(issue_id)
        await uow.commit()
    assert stored is not None
    return IssueDetail(issue=stored, changelog=tuple(changelog))
