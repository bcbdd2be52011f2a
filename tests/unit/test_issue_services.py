"""Issue services (list, detail, triage), against the in-memory store."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from typing import Any, cast

import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application import (
    begin_analysis,
    change_issue,
    complete_analysis,
    issue_detail,
    list_issues,
    record_file_snapshot,
    register_repository,
)
from domain.analysis import AnalysisJob, AnalysisResult
from domain.audit import AuditAction
from domain.enums import IssueStatus, JobStatus, Resolution, Severity
from domain.errors import InvalidTransitionError, ValidationError
from domain.ids import IssueId, ProjectId, RuleId, new_id
from domain.issues import Issue
from domain.projects import Project
from domain.values import SourceLocation
from ports.errors import NotFoundError
from ports.pagination import Page, PageRequest
from tests.contract import builders
from tests.unit.fakes import Events

T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)

# The issues of "main" by name, and the issue of "feature".
Triaged = tuple[dict[str, Issue], Issue]


def issue(project_id: ProjectId, **overrides: Any) -> Issue:
    fields: dict[str, Any] = {
        "project_id": project_id,
        "branch": "main",
        "rule_id": "complex-function",
        "severity": Severity.MEDIUM,
        "category": "complexity",
        "title": "Function is too complex",
        "path": "src/app.py",
        "line": 10,
    }
    fields.update(overrides)
    if fields.get("status") == IssueStatus.CLOSED:
        fields.setdefault("closed_at", T0)
    return Issue(**fields)


async def store_issues(uow: MemoryUnitOfWork, *issues: Issue) -> None:
    async with uow:
        await uow.issues.add_many(issues)
        await uow.commit()


async def store_job(uow: MemoryUnitOfWork, project_id: ProjectId, **fields: Any) -> AnalysisJob:
    job = AnalysisJob(project_id=project_id, **fields)
    async with uow:
        await uow.analysis.create_job(job)
        await uow.commit()
    return job


@pytest.fixture
async def triaged(uow: MemoryUnitOfWork, project: Project) -> Triaged:
    """Issues of "main" in every status, and one of "feature"; the latest completed
    analysis is of "main" (a later failed one is of "feature")."""
    main = {
        "critical": issue(project.id, severity=Severity.CRITICAL, path="src/a.py"),
        "low": issue(project.id, severity=Severity.LOW, status=IssueStatus.CONFIRMED),
        "reopened": issue(
            project.id,
            severity=Severity.HIGH,
            status=IssueStatus.REOPENED,
            new_code=True,
            path="src/b.py",
        ),
        "false_positive": issue(
            project.id,
            severity=Severity.HIGH,
            status=IssueStatus.RESOLVED,
            resolution=Resolution.FALSE_POSITIVE,
        ),
        "closed": issue(project.id, status=IssueStatus.CLOSED, resolution=Resolution.FIXED),
    }
    feature = issue(project.id, branch="feature", severity=Severity.CRITICAL)
    await store_issues(uow, *main.values(), feature)
    await store_job(uow, project.id, branch="feature", status=JobStatus.COMPLETED, created_at=T0)
    await store_job(
        uow,
        project.id,
        branch="main",
        status=JobStatus.COMPLETED,
        created_at=T0 + dt.timedelta(hours=1),
    )
    await store_job(
        uow,
        project.id,
        branch="feature",
        status=JobStatus.FAILED,
        created_at=T0 + dt.timedelta(hours=2),
    )
    return main, feature


def ids(page: Page[Issue]) -> list[IssueId]:
    return [i.id for i in page.items]


async def test_list_issues_defaults_to_the_unresolved_issues_of_the_latest_branch(
    uow: MemoryUnitOfWork, project: Project, triaged: Triaged
) -> None:
    """Without a branch the latest completed analysis' branch is listed, without
    statuses its open, confirmed and reopened issues, the most severe first."""
    main, _ = triaged
    page = await list_issues(uow, project.id)
    assert ids(page) == [main["critical"].id, main["reopened"].id, main["low"].id]
    assert page.next_cursor is None


async def test_list_issues_filters_by_branch_status_severity_and_new_code(
    uow: MemoryUnitOfWork, project: Project, triaged: Triaged
) -> None:
    """Each filter narrows the list; statuses may be given by their values."""
    main, feature = triaged
    assert ids(await list_issues(uow, project.id, branch="feature")) == [feature.id]
    resolved = await list_issues(
        uow, project.id, statuses=[cast(Any, "resolved"), IssueStatus.CLOSED]
    )
    assert set(ids(resolved)) == {main["false_positive"].id, main["closed"].id}
    severe = await list_issues(uow, project.id, min_severity=Severity.HIGH)
    assert ids(severe) == [main["critical"].id, main["reopened"].id]
    assert ids(await list_issues(uow, project.id, new_code=True)) == [main["reopened"].id]
    assert ids(await list_issues(uow, project.id, branch="gone")) == []


@pytest.mark.parametrize("sort", [None, "path", "first_seen_at"])
async def test_list_issues_pages_with_a_cursor(
    uow: MemoryUnitOfWork, project: Project, triaged: Triaged, sort: str | None
) -> None:
    """Pages follow one another by their cursor (in the default order, the most severe
    first, too), with no issue twice and none left out."""
    main, _ = triaged
    first = await list_issues(uow, project.id, page=PageRequest(limit=2, sort=sort))
    second = await list_issues(
        uow, project.id, page=PageRequest(limit=2, sort=sort, cursor=first.next_cursor)
    )
    assert len(first) == 2 and len(second) == 1 and second.next_cursor is None
    assert set(ids(first)) | set(ids(second)) == {
        main["critical"].id,
        main["reopened"].id,
        main["low"].id,
    }


async def test_list_issues_of_a_project_never_analysed_lists_the_detached_branch(
    uow: MemoryUnitOfWork, project: Project
) -> None:
    """With no completed analysis, the branch is "" (a detached HEAD's)."""
    detached = issue(project.id, branch="")
    await store_issues(uow, detached, issue(project.id, branch="main"))
    assert ids(await list_issues(uow, project.id)) == [detached.id]


async def test_list_issues_refuses_unknown_projects_and_empty_statuses(
    uow: MemoryUnitOfWork, project: Project
) -> None:
    """An unknown project is NotFoundError; an empty status list a ValidationError."""
    with pytest.raises(NotFoundError, match="project"):
        await list_issues(uow, ProjectId(new_id()))
    with pytest.raises(ValidationError, match="statuses"):
        await list_issues(uow, project.id, statuses=[])
    with pytest.raises(ValidationError, match="branch"):
        await list_issues(uow, project.id, branch="b" * 256)


async def test_issue_detail_returns_the_issue_and_its_changelog(
    uow: MemoryUnitOfWork, project: Project, triaged: Triaged
) -> None:
    """The detail holds the issue as stored and its changes oldest first; an unknown
    issue is NotFoundError."""
    main, _ = triaged
    target = main["critical"]
    await change_issue(uow, target.id, comment="looking into it")
    await change_issue(uow, target.id, confirm=True)

    detail = await issue_detail(uow, target.id)

    assert detail.issue.id == target.id and detail.issue.status is IssueStatus.CONFIRMED
    assert [(c.to_status, c.comment) for c in detail.changelog] == [
        (IssueStatus.OPEN, "looking into it"),
        (IssueStatus.CONFIRMED, None),
    ]
    with pytest.raises(NotFoundError, match="issue"):
        await issue_detail(uow, IssueId(new_id()))


async def test_change_issue_moves_the_issue_and_records_who_did(
    db: MemoryDatabase, project: Project, triaged: Triaged, events: Events
) -> None:
    """Each move is written with its changelog entry under the unit's actor, and the
    audit trail records it; no outbox event is raised."""
    main, _ = triaged
    target = main["critical"]
    alice = MemoryUnitOfWork(db, actor="user:alice", system=True)

    resolved = await change_issue(
        alice, target.id, resolve=Resolution.WONT_FIX, comment="legacy code"
    )
    reopened = await change_issue(alice, target.id, reopen=True)

    assert (resolved.issue.status, resolved.issue.resolution) == (
        IssueStatus.RESOLVED,
        Resolution.WONT_FIX,
    )
    assert (reopened.issue.status, reopened.issue.resolution) == (IssueStatus.REOPENED, None)
    moves = [
        (c.actor, c.from_status, c.to_status, c.to_resolution, c.comment)
        for c in reopened.changelog
    ]
    assert moves == [
        ("user:alice", IssueStatus.OPEN, IssueStatus.RESOLVED, Resolution.WONT_FIX, "legacy code"),
        ("user:alice", IssueStatus.RESOLVED, IssueStatus.REOPENED, None, None),
    ]
    stored = await issue_detail(MemoryUnitOfWork(db, system=True), target.id)
    assert stored.issue.status is IssueStatus.REOPENED
    async with alice:
        audited = await alice.audit.entries(entity="issues", entity_id=str(target.id))
    assert [(e.actor, e.action) for e in audited] == [("user:alice", AuditAction.UPDATE)] * 2
    assert await events() == []


async def test_change_issue_names_the_user_when_the_unit_names_no_actor(
    uow: MemoryUnitOfWork, project: Project, triaged: Triaged
) -> None:
    """Without an actor the change is recorded as the user's."""
    main, _ = triaged
    detail = await change_issue(uow, main["low"].id, resolve=cast(Any, "false-positive"))
    assert [c.actor for c in detail.changelog] == ["user"]
    assert detail.issue.resolution is Resolution.FALSE_POSITIVE


async def test_a_comment_alone_keeps_the_status(
    uow: MemoryUnitOfWork, project: Project, triaged: Triaged, committed: Callable[[], Any]
) -> None:
    """A comment is a changelog entry from and to the same status; the issue itself is
    not rewritten."""
    main, _ = triaged
    target = main["false_positive"]
    detail = await change_issue(uow, target.id, comment="checked again: still a false positive")
    [entry] = detail.changelog
    assert (entry.from_status, entry.to_status) == (IssueStatus.RESOLVED, IssueStatus.RESOLVED)
    assert (entry.from_resolution, entry.to_resolution) == (Resolution.FALSE_POSITIVE,) * 2
    assert detail.issue.updated_at == target.updated_at
    assert detail.issue.status is IssueStatus.RESOLVED


@pytest.mark.parametrize(
    ("status", "move"),
    [
        (IssueStatus.RESOLVED, {"confirm": True}),
        (IssueStatus.CONFIRMED, {"confirm": True}),
        (IssueStatus.OPEN, {"reopen": True}),
        (IssueStatus.CLOSED, {"reopen": True}),
        (IssueStatus.CLOSED, {"resolve": Resolution.FIXED}),
    ],
)
async def test_an_illegal_move_is_refused_and_writes_nothing(
    uow: MemoryUnitOfWork,
    project: Project,
    committed: Callable[[], Any],
    status: IssueStatus,
    move: dict[str, Any],
) -> None:
    """A move the lifecycle does not have is an InvalidTransitionError (a
    ValidationError), and neither the issue nor its changelog changes."""
    resolution = Resolution.FIXED if status in (IssueStatus.RESOLVED, IssueStatus.CLOSED) else None
    target = issue(project.id, status=status, resolution=resolution)
    await store_issues(uow, target)
    before = committed()

    with pytest.raises(InvalidTransitionError):
        await change_issue(uow, target.id, comment="why", **move)

    assert committed() == before


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"confirm": True, "reopen": True}, "reopen"),
        ({"confirm": True, "resolve": Resolution.FIXED}, "resolve"),
        ({}, "comment"),
        ({"comment": ""}, "comment"),
        ({"confirm": True, "comment": "x" * 4001}, "comment"),
        ({"resolve": "nope"}, "resolve"),
    ],
)
async def test_change_issue_refuses_bad_requests_before_reading(
    uow: MemoryUnitOfWork,
    project: Project,
    triaged: Triaged,
    committed: Callable[[], Any],
    arguments: dict[str, Any],
    field: str,
) -> None:
    """Two moves at once, nothing to do, an empty or too long comment, or a resolution
    that does not exist: a ValidationError naming the argument, nothing written."""
    main, _ = triaged
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await change_issue(uow, main["critical"].id, **arguments)
    assert caught.value.field == field
    assert committed() == before


async def test_change_issue_of_an_unknown_issue_is_not_found(
    uow: MemoryUnitOfWork, project: Project
) -> None:
    """Triage of an issue that does not exist is NotFoundError."""
    with pytest.raises(NotFoundError, match="issue"):
        await change_issue(uow, IssueId(new_id()), confirm=True)


async def test_concurrent_triage_queues_on_the_issue_lock(
    db: MemoryDatabase, project: Project, triaged: Triaged
) -> None:
    """Two triages of one issue at once both land, one after the other: neither is
    lost, and the second sees the first's status."""
    main, _ = triaged
    target = main["critical"]
    await asyncio.gather(
        change_issue(MemoryUnitOfWork(db, actor="user:a", system=True), target.id, confirm=True),
        change_issue(MemoryUnitOfWork(db, actor="user:b", system=True), target.id, comment="seen"),
    )
    detail = await issue_detail(MemoryUnitOfWork(db, system=True), target.id)
    assert {c.actor for c in detail.changelog} == {"user:a", "user:b"}
    assert detail.issue.status is IssueStatus.CONFIRMED
    comment = next(c for c in detail.changelog if c.actor == "user:b")
    assert comment.from_status == comment.to_status


async def test_a_verdict_outlives_the_next_analysis(
    uow: MemoryUnitOfWork, project: Project
) -> None:
    """An issue found by an analysis and resolved as a false positive stays so when the
    next analysis finds it again, under the same id."""
    repository = await register_repository(
        uow, project.id, local_path="/srv/billing", remote_url="", default_branch="main"
    )
    file = builders.file_index(repository.id, relative_path="src/app.py")
    await record_file_snapshot(uow, repository.id, [file])

    async def analyse() -> None:
        job = await begin_analysis(uow, project.id, owner="tests", branch="main")
        finding = AnalysisResult(
            job_id=job.id,
            file_id=file.id,
            rule_id=RuleId("complex-function"),
            severity="high",
            category="complexity",
            title="Function is too complex",
            description="Too many branches.",
            location=SourceLocation(file_path="src/app.py", line_start=12, line_end=20),
        )
        await complete_analysis(uow, job.id, results=[finding])

    await analyse()
    [found] = (await list_issues(uow, project.id)).items
    await change_issue(uow, found.id, resolve=Resolution.FALSE_POSITIVE, comment="generated")

    await analyse()

    detail = await issue_detail(uow, found.id)
    assert (detail.issue.status, detail.issue.resolution) == (
        IssueStatus.RESOLVED,
        Resolution.FALSE_POSITIVE,
    )
    assert (await list_issues(uow, project.id)).items == ()
