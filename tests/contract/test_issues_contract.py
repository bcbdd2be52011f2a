"""Contract of IssueRepository (bulk writes, identity, triage locks, filtered and paged
lists, the tracker's candidates, changelogs, new code, counts, retention) and of the
AnalysisRepository additions it works with (results' line hash and issue, the latest job
of a branch, code size, file analyses, deletion of jobs)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Collection, Iterable
from typing import Any

import attrs
import pytest

from domain.analysis import AnalysisJob
from domain.enums import FileChange, IssueStatus, Resolution, Severity
from domain.errors import ValidationError as DomainValidationError
from domain.files import FileHistoryEntry, FileIndex
from domain.ids import FileId, IssueId, JobId, ProjectId, new_id
from domain.issues import Finding, Issue, IssueChange
from domain.quality import GateEvaluation, IssueCount
from domain.values import SourceLocation
from ports.errors import NotFoundError
from ports.pagination import Page, PageRequest
from ports.repositories import ISSUE_SORTS, CodeSize, FileAnalysis, IssueFilters
from ports.unit_of_work import UnitOfWork
from tests.contract.builders import (
    Scaffold,
    analysed,
    analysis_job,
    analysis_result,
    at,
    code_metric,
    file_index,
    read,
    scaffold,
    store,
    token,
)
from tests.contract.conftest import Backend
from tests.contract.paging import assert_keyset_pagination, assert_rejects_bad_requests


def issue(project_id: ProjectId, **overrides: Any) -> Issue:
    """A valid open issue of the project's branch "main"; overrides any field."""
    fields = {
        "project_id": project_id,
        "branch": "main",
        "rule_id": "complex-function",
        "severity": "medium",
        "category": "complexity",
        "title": f"Function is too complex ({token()})",
        "first_seen_at": at(0),
        "last_seen_at": at(0),
        "created_at": at(0),
        "updated_at": at(0),
    }
    return Issue(**{**fields, **overrides})


async def add_issues(backend: Backend, *issues: Issue) -> None:
    async with backend.uow() as uow:
        assert await uow.issues.add_many(list(issues)) == len(issues)
        await uow.commit()


async def project_with_file(backend: Backend) -> tuple[Scaffold, FileIndex, AnalysisJob]:
    """A stored project with a file and a completed job of branch "main"."""
    base = await scaffold(backend)
    file = file_index(base.repository.id)
    job = analysis_job(base.project.id, status="completed", branch="main", created_at=at(0))
    await store(backend, file, job)
    return base, file, job


async def listed(backend: Backend, project_id: ProjectId, **filters: Any) -> set[IssueId]:
    page = await read(
        backend,
        lambda uow: uow.issues.list(
            project_id, PageRequest(limit=1000), filters=IssueFilters(**filters)
        ),
    )
    return {i.id for i in page}


# ---------------------------------------------------------------------------- issues


async def test_add_many_then_find_round_trips_every_field(backend: Backend) -> None:
    """Issues written in bulk read back by id with every field, closed ones included."""
    base, file, job = await project_with_file(backend)
    located = issue(
        base.project.id,
        severity="critical",
        category="security",
        description="String formatting in a SQL query.",
        file_id=file.id,
        path=file.relative_path,
        line=12,
        line_hash="5d41402abc4b2a76b9719d911017c592",
        new_code=True,
        first_seen_job_id=job.id,
        last_seen_job_id=job.id,
        first_seen_at=at(1),
        last_seen_at=at(2),
        created_at=at(1),
        updated_at=at(2),
    )
    closed = issue(base.project.id, branch="", status="closed", resolution="wont-fix",
                   closed_at=at(3))  # fmt: skip

    await add_issues(backend, located, closed)

    async def find(issue_id: IssueId) -> Issue | None:
        return await read(backend, lambda uow: uow.issues.find_by_id(issue_id))

    for stored in (located, closed):
        found = await find(stored.id)
        assert found is not None
        assert attrs.asdict(found) == attrs.asdict(stored)
    assert await read(backend, lambda uow: uow.issues.find_by_id(IssueId(new_id()))) is None


async def test_add_many_needs_its_project_jobs_and_file(backend: Backend) -> None:
    """An issue naming a missing project, job or file raises NotFoundError; the batch
    writes nothing."""
    base, file, _ = await project_with_file(backend)
    good = issue(base.project.id, file_id=file.id)

    for orphan in (
        issue(ProjectId(new_id())),
        issue(base.project.id, first_seen_job_id=JobId(new_id())),
        issue(base.project.id, last_seen_job_id=JobId(new_id())),
        issue(base.project.id, file_id=FileId(new_id())),
    ):
        with pytest.raises(NotFoundError):
            async with backend.uow() as uow:
                await uow.issues.add_many([good, orphan])
                await uow.commit()

    assert await listed(backend, base.project.id) == set()


async def test_update_many_stores_the_state_but_never_the_identity(backend: Backend) -> None:
    """update_many stores every field an analysis or a user moves, returns how many it
    stored, and leaves the project, branch and creation time as they were."""
    base, file, _ = await project_with_file(backend)
    later = analysis_job(base.project.id, status="completed", branch="main", created_at=at(5))
    await store(backend, later)
    first, second = issue(base.project.id), issue(base.project.id, file_id=file.id, line=3)
    await add_issues(backend, first, second)

    async with backend.uow() as uow:
        moved = await uow.issues.find_by_id(first.id)
        assert moved is not None
        moved.resolve(Resolution.FALSE_POSITIVE, "alice", at=at(6))
        moved.new_code = True
        seen = await uow.issues.find_by_id(second.id)
        assert seen is not None
        finding = Finding(
            rule_id=seen.rule_id, severity=Severity.HIGH, category=seen.category,
            title="Function is too complex (14)", file_id=file.id, path="src/renamed.py",
            line=9, line_hash="a" * 32,
        )  # fmt: skip
        seen.observe(finding, later.id, at(5), actor="analysis")
        seen.disappear(later.id, at(7), actor="analysis")
        tampered = attrs.evolve(seen)
        object.__setattr__(tampered, "branch", "elsewhere")
        object.__setattr__(tampered, "created_at", at(-100))
        assert await uow.issues.update_many([moved, tampered]) == 2
        await uow.commit()

    stored_first = await read(backend, lambda uow: uow.issues.find_by_id(first.id))
    assert stored_first is not None
    assert attrs.asdict(stored_first) == attrs.asdict(moved)
    stored_second = await read(backend, lambda uow: uow.issues.find_by_id(second.id))
    assert stored_second is not None
    assert attrs.asdict(stored_second) == attrs.asdict(seen)
    assert stored_second.status is IssueStatus.CLOSED and stored_second.closed_at == at(7)
    assert (stored_second.branch, stored_second.created_at) == ("main", at(0))


async def test_update_many_of_a_missing_issue_raises_not_found(backend: Backend) -> None:
    """Updating an issue that is not stored raises NotFoundError."""
    base, _, _ = await project_with_file(backend)
    stored, missing = issue(base.project.id), issue(base.project.id)
    await add_issues(backend, stored)

    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.issues.update_many([stored, missing])
            await uow.commit()


async def test_lock_returns_the_issue_or_raises_not_found(backend: Backend) -> None:
    """lock returns the stored issue; a missing one raises NotFoundError."""
    base, _, _ = await project_with_file(backend)
    stored = issue(base.project.id, severity="low")
    await add_issues(backend, stored)

    async with backend.uow() as uow:
        locked = await uow.issues.lock(stored.id)
        assert attrs.asdict(locked) == attrs.asdict(stored)
        with pytest.raises(NotFoundError):
            await uow.issues.lock(IssueId(new_id()))


async def test_list_pages_through_every_sort_in_keyset_order(backend: Backend) -> None:
    """A project's issues page in (sort key, id) order for each sort; severity puts the
    most severe first, then orders by path and line."""
    base, _, _ = await project_with_file(backend)
    other = (await scaffold(backend)).project
    shape = [
        ("critical", "b.py", 3, 1), ("low", "a.py", None, 2), ("critical", "a.py", 7, 2),
        ("critical", "a.py", 7, 3), ("medium", "B.py", 1, 0), ("info", "", None, 4),
        ("critical", "a.py", 10, 1), ("high", "é.py", 2, 5), ("medium", "B.py", 1, 0),
    ]  # fmt: skip
    issues = [
        issue(base.project.id, severity=s, path=p, line=ln, first_seen_at=at(m),
              last_seen_at=at(10 - m), updated_at=at(m % 3), created_at=at(m))
        for s, p, ln, m in shape
    ]  # fmt: skip
    await add_issues(backend, *issues)
    await add_issues(backend, issue(other.id))

    def fetch(uow: UnitOfWork, request: PageRequest) -> Awaitable[Page[Issue]]:
        return uow.issues.list(base.project.id, request)

    await assert_keyset_pagination(
        backend,
        fetch,
        issues,
        {
            "severity": lambda i: (i.severity.rank, i.path.encode(), i.line or 0),
            "path": lambda i: i.path.encode(),
            "first_seen_at": lambda i: i.first_seen_at,
            "last_seen_at": lambda i: i.last_seen_at,
            "updated_at": lambda i: i.updated_at,
        },
        offered=ISSUE_SORTS,
    )
    await assert_rejects_bad_requests(backend, fetch, offered=ISSUE_SORTS)


async def test_list_filters_by_branch_status_severity_new_code_file_and_rule(
    backend: Backend,
) -> None:
    """Each filter keeps only the issues that pass it; filters combine."""
    base, file, _ = await project_with_file(backend)
    a = issue(base.project.id, severity="critical", file_id=file.id, new_code=True)
    b = issue(base.project.id, severity="low", status="closed", resolution="fixed",
              closed_at=at(1))  # fmt: skip
    c = issue(base.project.id, branch="", severity="high", rule_id="sql-injection")
    d = issue(base.project.id, severity="medium", status="confirmed", file_id=file.id)
    await add_issues(backend, a, b, c, d)
    pid = base.project.id

    assert await listed(backend, pid) == {a.id, b.id, c.id, d.id}
    assert await listed(backend, pid, branch="main") == {a.id, b.id, d.id}
    assert await listed(backend, pid, branch="") == {c.id}
    unresolved = (IssueStatus.OPEN, IssueStatus.CONFIRMED, IssueStatus.REOPENED)
    assert await listed(backend, pid, statuses=unresolved) == {a.id, c.id, d.id}
    assert await listed(backend, pid, statuses=()) == set()
    assert await listed(backend, pid, min_severity=Severity.HIGH) == {a.id, c.id}
    assert await listed(backend, pid, new_code=True) == {a.id}
    assert await listed(backend, pid, new_code=False) == {b.id, c.id, d.id}
    assert await listed(backend, pid, file_id=file.id) == {a.id, d.id}
    assert await listed(backend, pid, rule_id="sql-injection") == {c.id}
    both = await listed(backend, pid, file_id=file.id, min_severity=Severity.CRITICAL)
    assert both == {a.id}


async def test_for_tracking_returns_the_branch_issues_an_analysis_matches(backend: Backend) -> None:
    """Every issue of the branch not closed, those closed at or after closed_since, and
    with file_ids only those of these files (None: the issues of no file)."""
    base, file, _ = await project_with_file(backend)
    other_file = file_index(base.repository.id)
    await store(backend, other_file)
    pid = base.project.id
    open_in_file = issue(pid, file_id=file.id)
    open_no_file = issue(pid)
    resolved = issue(pid, file_id=other_file.id, status="resolved", resolution="wont-fix")
    closed_late = issue(pid, file_id=file.id, status="closed", resolution="fixed",
                        closed_at=at(10))  # fmt: skip
    closed_early = issue(pid, status="closed", resolution="fixed", closed_at=at(9))
    elsewhere = issue(pid, branch="feature", file_id=file.id)
    await add_issues(
        backend, open_in_file, open_no_file, resolved, closed_late, closed_early, elsewhere
    )

    async def tracked(**kwargs: Any) -> set[IssueId]:
        found = await read(
            backend,
            lambda uow: uow.issues.for_tracking(pid, "main", closed_since=at(10), **kwargs),
        )
        return {i.id for i in found}

    assert await tracked() == {open_in_file.id, open_no_file.id, resolved.id, closed_late.id}
    assert await tracked(file_ids=[file.id]) == {open_in_file.id, closed_late.id}
    assert await tracked(file_ids=[None]) == {open_no_file.id}
    assert await tracked(file_ids=[None, other_file.id]) == {open_no_file.id, resolved.id}
    assert await tracked(file_ids=[]) == set()
    found = await read(
        backend, lambda uow: uow.issues.for_tracking(pid, "main", closed_since=at(10))
    )
    by_id = {i.id: i for i in found}
    assert attrs.asdict(by_id[closed_late.id]) == attrs.asdict(closed_late)


async def test_changelog_reads_back_every_change_oldest_first(backend: Backend) -> None:
    """add_changes appends the moves of issues in bulk and returns how many; changelog
    returns one issue's changes oldest first, each with every field."""
    base, _, job = await project_with_file(backend)
    tracked, other = issue(base.project.id), issue(base.project.id)
    await add_issues(backend, tracked, other)
    gone = tracked.disappear(job.id, at(3), actor="analysis")
    assert gone is not None
    moves = [
        gone,
        tracked.comment("bob", "still there?", at=at(1)),
        other.confirm("carol", at=at(2)),
    ]

    async with backend.uow() as uow:
        assert await uow.issues.add_changes(moves) == 3
        await uow.commit()

    log = await read(backend, lambda uow: uow.issues.changelog(tracked.id))
    assert [attrs.asdict(c) for c in log] == [attrs.asdict(moves[1]), attrs.asdict(moves[0])]
    assert log[1].job_id == job.id and log[1].to_resolution is Resolution.FIXED
    assert await read(backend, lambda uow: uow.issues.changelog(IssueId(new_id()))) == []


async def test_changes_of_a_missing_issue_raise_not_found(backend: Backend) -> None:
    """A change of an issue that is not stored raises NotFoundError; nothing is written."""
    base, _, _ = await project_with_file(backend)
    stored = issue(base.project.id)
    await add_issues(backend, stored)
    good = stored.comment("bob", "looks real")
    orphan = IssueChange(issue_id=IssueId(new_id()), actor="bob", from_status="open",
                         to_status="confirmed")  # fmt: skip

    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.issues.add_changes([good, orphan])
            await uow.commit()

    assert await read(backend, lambda uow: uow.issues.changelog(stored.id)) == []


async def test_mark_new_code_flags_the_issues_first_seen_after_since(backend: Backend) -> None:
    """mark_new_code sets new_code on the branch's issues first seen after ``since``,
    clears it on the others (all with None), and returns how many changed."""
    base, _, _ = await project_with_file(backend)
    pid = base.project.id
    old = issue(pid, first_seen_at=at(0), new_code=True)
    edge = issue(pid, first_seen_at=at(5))
    new = issue(pid, first_seen_at=at(6))
    other_branch = issue(pid, branch="feature", first_seen_at=at(9))
    await add_issues(backend, old, edge, new, other_branch)

    async def mark(since: dt.datetime | None) -> int:
        async with backend.uow() as uow:
            changed = await uow.issues.mark_new_code(pid, "main", since=since)
            await uow.commit()
        return changed

    assert await mark(at(5)) == 2  # old cleared, new set
    assert await listed(backend, pid, new_code=True) == {new.id}
    assert await mark(at(5)) == 0
    assert await mark(None) == 1
    assert await listed(backend, pid, new_code=True) == set()


async def test_counts_group_the_branch_issues(backend: Backend) -> None:
    """counts groups the branch's issues by status, resolution, severity and new code."""
    base, _, _ = await project_with_file(backend)
    pid = base.project.id
    await add_issues(
        backend,
        issue(pid, severity="high"),
        issue(pid, severity="high"),
        issue(pid, severity="high", new_code=True),
        issue(pid, severity="low", status="resolved", resolution="false-positive"),
        issue(pid, severity="low", status="closed", resolution="fixed", closed_at=at(1)),
        issue(pid, branch="feature", severity="critical"),
    )

    counts = await read(backend, lambda uow: uow.issues.counts(pid, "main"))

    def count(
        status: IssueStatus,
        resolution: Resolution | None,
        severity: Severity,
        new_code: bool,
        n: int,
    ) -> IssueCount:
        return IssueCount(status=status, resolution=resolution, severity=severity,
                          new_code=new_code, count=n)  # fmt: skip

    assert set(counts) == {
        count(IssueStatus.OPEN, None, Severity.HIGH, False, 2),
        count(IssueStatus.OPEN, None, Severity.HIGH, True, 1),
        count(IssueStatus.RESOLVED, Resolution.FALSE_POSITIVE, Severity.LOW, False, 1),
        count(IssueStatus.CLOSED, Resolution.FIXED, Severity.LOW, False, 1),
    }
    assert await read(backend, lambda uow: uow.issues.counts(pid, "nowhere")) == []


async def test_delete_closed_removes_old_closed_issues_with_their_changelogs(
    backend: Backend,
) -> None:
    """delete_closed deletes the issues closed before ``before`` and their changes, keeps
    every other issue, and leaves the results that observed them without an issue."""
    base, file, job = await project_with_file(backend)
    pid = base.project.id
    gone = issue(pid, file_id=file.id, status="closed", resolution="fixed", closed_at=at(1))
    kept_closed = issue(pid, status="closed", resolution="fixed", closed_at=at(5))
    kept_open = issue(pid, first_seen_at=at(-10))
    await add_issues(backend, gone, kept_closed, kept_open)
    observation = analysis_result(job.id, file_id=file.id, issue_id=gone.id)
    async with backend.uow() as uow:
        await uow.issues.add_changes([gone.comment("bob", "why?", at=at(0))])
        await analysed(uow, job.id, file.id)
        await uow.analysis.create_results([observation])
        await uow.commit()

    async with backend.uow() as uow:
        assert await uow.issues.delete_closed(before=at(5)) == 1
        await uow.commit()

    assert await listed(backend, pid) == {kept_closed.id, kept_open.id}
    assert await read(backend, lambda uow: uow.issues.changelog(gone.id)) == []
    results = await read(backend, lambda uow: uow.analysis.find_results_by_file(file.id))
    assert [(r.id, r.issue_id) for r in results] == [(observation.id, None)]


async def test_a_unit_of_one_organization_sees_and_writes_only_its_issues(backend: Backend) -> None:
    """Another organization's issues are not there for a unit of one organization, nor
    may it write issues into that organization's project."""
    mine, _, _ = await project_with_file(backend)
    theirs, _, _ = await project_with_file(backend)
    their_issue = issue(theirs.project.id)
    await add_issues(backend, their_issue)

    async with backend.uow(organization_id=mine.organization.id) as uow:
        assert await uow.issues.find_by_id(their_issue.id) is None
        assert len(await uow.issues.list(theirs.project.id, PageRequest())) == 0
        assert await uow.issues.counts(theirs.project.id, "main") == []
    with pytest.raises(NotFoundError):
        async with backend.uow(organization_id=mine.organization.id) as uow:
            await uow.issues.add_many([issue(theirs.project.id)])
            await uow.commit()


# ---------------------------------------------------------------------------- results


async def test_results_round_trip_their_line_hash_and_issue(backend: Backend) -> None:
    """A result's line hash and issue are written in bulk and read back; an unknown issue
    raises NotFoundError."""
    base, file, job = await project_with_file(backend)
    tracked = issue(base.project.id, file_id=file.id)
    await add_issues(backend, tracked)
    observed = analysis_result(
        job.id, file_id=file.id, line_hash="0cc175b9c0f1b6a831c399e269772661",
        issue_id=tracked.id, created_at=at(0),
        location=SourceLocation(file_path=file.relative_path, line_start=4, line_end=4),
    )  # fmt: skip
    plain = analysis_result(job.id, created_at=at(1))

    async with backend.uow() as uow:
        await analysed(uow, job.id, file.id)
        await uow.analysis.create_results([observed, plain])
        await uow.commit()

    page = await read(backend, lambda uow: uow.analysis.find_results_by_job(job.id, PageRequest()))
    assert [attrs.asdict(r) for r in page] == [attrs.asdict(observed), attrs.asdict(plain)]
    by_file = await read(backend, lambda uow: uow.analysis.find_results_by_file(file.id))
    assert [(r.line_hash, r.issue_id) for r in by_file] == [(observed.line_hash, tracked.id)]
    with pytest.raises(NotFoundError):
        async with backend.uow() as uow:
            await uow.analysis.create_results([analysis_result(job.id, issue_id=IssueId(new_id()))])


async def test_latest_job_of_a_branch_and_before_a_job(backend: Backend) -> None:
    """latest_job picks within one branch ("" is a job of no branch) and among the jobs
    created before a given one."""
    proj = (await scaffold(backend)).project
    main1 = analysis_job(proj.id, status="completed", branch="main", created_at=at(0))
    detached = analysis_job(proj.id, status="completed", created_at=at(1))
    main2 = analysis_job(proj.id, status="completed", branch="main", created_at=at(2))
    feature = analysis_job(proj.id, status="completed", branch="feature", created_at=at(3))
    running = analysis_job(proj.id, status="running", branch="main", created_at=at(4))
    await store(backend, main1, detached, main2, feature, running)

    async def latest(**kwargs: Any) -> JobId | None:
        job = await read(backend, lambda uow: uow.analysis.latest_job(proj.id, **kwargs))
        return None if job is None else job.id

    assert await latest() == feature.id
    assert await latest(branch="main") == main2.id
    assert await latest(branch="main", status=None) == running.id
    assert await latest(branch="") == detached.id
    assert await latest(branch="nowhere") is None
    assert await latest(before=main2.id) == detached.id
    assert await latest(branch="main", before=main2.id) == main1.id
    assert await latest(branch="main", before=main1.id) is None
    assert await latest(before=JobId(new_id())) is None


async def test_code_size_counts_the_files_a_job_holds_and_those_new_since(backend: Backend) -> None:
    """code_size counts the files the job holds and their lines as last analysed, and of
    them those added, changed, renamed or restored after ``since``."""
    base = await scaffold(backend)
    a, b, c, d = (file_index(base.repository.id) for _ in range(4))
    job1 = analysis_job(base.project.id, status="completed", created_at=at(0))
    job2 = analysis_job(base.project.id, status="completed", created_at=at(10))
    job3 = analysis_job(base.project.id, status="running", created_at=at(20))
    await store(backend, a, b, c, d, job1, job2, job3)

    def entry(
        file: FileIndex, job: AnalysisJob, change: FileChange, lines: int | None, minutes: float
    ) -> FileHistoryEntry:
        return FileHistoryEntry(
            file_id=file.id, job_id=job.id, change=change, relative_path=file.relative_path,
            line_count=lines, created_at=at(minutes),
        )  # fmt: skip

    async with backend.uow() as uow:
        await uow.files.record_history([
            entry(a, job1, FileChange.ADDED, 10, 0), entry(b, job1, FileChange.ADDED, 20, 0),
            entry(c, job1, FileChange.ADDED, 30, 0), entry(a, job2, FileChange.MODIFIED, 12, 10),
            entry(c, job2, FileChange.DELETED, None, 10), entry(d, job2, FileChange.ADDED, 40, 10),
            entry(b, job3, FileChange.MODIFIED, 25, 20),
        ])  # fmt: skip
        await uow.commit()

    async def size(job: AnalysisJob, since: dt.datetime | None) -> CodeSize:
        return await read(backend, lambda uow: uow.analysis.code_size(job.id, since=since))

    assert await size(job1, None) == CodeSize(files=3, lines=60, new_files=0, new_lines=0)
    assert await size(job2, at(5)) == CodeSize(files=3, lines=72, new_files=2, new_lines=52)
    assert await size(job2, None) == CodeSize(files=3, lines=72, new_files=0, new_lines=0)
    assert await size(job3, at(5)) == CodeSize(files=3, lines=77, new_files=3, new_lines=77)
    assert await size(job3, at(15)) == CodeSize(files=3, lines=77, new_files=1, new_lines=25)
    unknown = analysis_job(base.project.id)
    assert await size(unknown, at(0)) == CodeSize(files=0, lines=0, new_files=0, new_lines=0)


async def test_file_analyses_list_every_history_entry_in_job_order(backend: Backend) -> None:
    """file_analyses lists which job analysed (or saw deleted) which file, in the order
    of the jobs' creation, the project's only."""
    base = await scaffold(backend)
    files = [file_index(base.repository.id) for _ in range(3)]
    later = analysis_job(base.project.id, created_at=at(5))
    earlier = analysis_job(base.project.id, created_at=at(1))
    other = await scaffold(backend)
    other_file, other_job = file_index(other.repository.id), analysis_job(other.project.id)
    await store(backend, *files, later, earlier, other_file, other_job)

    def entry(
        file: FileIndex, job: AnalysisJob, change: FileChange = FileChange.ANALYSED
    ) -> FileHistoryEntry:
        return FileHistoryEntry(file_id=file.id, job_id=job.id, change=change,
                                relative_path=file.relative_path)  # fmt: skip

    async with backend.uow() as uow:
        await uow.files.record_history([
            entry(files[0], later, FileChange.DELETED), entry(files[1], later),
            entry(files[0], earlier), entry(files[1], earlier), entry(files[2], earlier),
            entry(other_file, other_job),
        ])  # fmt: skip
        await uow.commit()

    found = await read(backend, lambda uow: uow.analysis.file_analyses(base.project.id))

    def expected(
        job: AnalysisJob, chosen: Iterable[FileIndex], deleted: Collection[FileId] = ()
    ) -> list[FileAnalysis]:
        return [
            FileAnalysis(job_id=job.id, file_id=f.id, deleted=f.id in deleted)
            for f in sorted(chosen, key=lambda f: str(f.id))
        ]

    assert found == [
        *expected(earlier, files),
        *expected(later, files[:2], deleted={files[0].id}),
    ]


async def test_delete_jobs_refuses_a_running_or_pending_job_and_deletes_nothing(
    backend: Backend,
) -> None:
    """A running or pending job among those to delete raises ValidationError, naming it;
    no job is deleted."""
    proj = (await scaffold(backend)).project
    done = analysis_job(proj.id, status="completed")

    async def find_job(job_id: JobId) -> AnalysisJob | None:
        return await read(backend, lambda uow: uow.analysis.find_job_by_id(job_id))

    for unfinished in (analysis_job(proj.id, status="running"), analysis_job(proj.id)):
        await store(backend, unfinished)
        if await read(backend, lambda uow: uow.analysis.find_job_by_id(done.id)) is None:
            await store(backend, done)

        with pytest.raises(DomainValidationError) as caught:
            async with backend.uow() as uow:
                await uow.analysis.delete_jobs([done.id, unfinished.id])
                await uow.commit()

        assert str(unfinished.id) in str(caught.value)
        for job in (done, unfinished):
            found = await find_job(job.id)
            assert found is not None


async def test_delete_jobs_deletes_what_they_hold_and_issues_keep_their_identity(
    backend: Backend,
) -> None:
    """Deleting finished jobs removes their results, metrics, history, measures and gate
    and returns how many; issues they saw keep their ids and times, without the job."""
    base, file, job = await project_with_file(backend)
    failed = analysis_job(base.project.id, status="failed", branch="main", created_at=at(1))
    kept = analysis_job(base.project.id, status="completed", branch="main", created_at=at(2))
    await store(backend, failed, kept)
    seen = issue(base.project.id, file_id=file.id, first_seen_job_id=job.id,
                 last_seen_job_id=kept.id, first_seen_at=at(0), last_seen_at=at(2))  # fmt: skip
    await add_issues(backend, seen)
    change = seen.disappear(job.id, at(0), actor="analysis")
    assert change is not None
    async with backend.uow() as uow:
        await analysed(uow, job.id, file.id)
        await uow.analysis.create_results([analysis_result(job.id, file_id=file.id)])
        await uow.analysis.create_metrics([code_metric(file.id, job.id)])
        await uow.issues.add_changes([change])
        for j in (job, kept):
            await uow.measures.record(j.id, base.project.id, "main", {"issues": 1.0}, at=at(0))
        await uow.measures.record_gate(
            GateEvaluation(job_id=job.id, project_id=base.project.id, branch="main",
                           gate_name="default", status="passed", conditions=())
        )  # fmt: skip
        await uow.commit()

    async with backend.uow() as uow:
        assert await uow.analysis.delete_jobs([job.id, failed.id, job.id, JobId(new_id())]) == 2
        await uow.commit()

    async with backend.uow() as uow:
        assert await uow.analysis.find_job_by_id(job.id) is None
        assert await uow.analysis.find_job_by_id(failed.id) is None
        assert await uow.analysis.find_job_by_id(kept.id) is not None
        assert await uow.analysis.find_results_by_file(file.id) == []
        assert await uow.analysis.find_metrics_by_file(file.id) == []
        assert await uow.files.history(file.id) == []
        assert await uow.measures.gate(job.id) is None
        points = await uow.measures.history(base.project.id, "main", "issues")
        assert [p.job_id for p in points] == [kept.id]
        stored = await uow.issues.find_by_id(seen.id)
        assert stored is not None
        assert (stored.first_seen_job_id, stored.last_seen_job_id) == (None, kept.id)
        assert (stored.first_seen_at, stored.created_at) == (seen.first_seen_at, seen.created_at)
        log = await uow.issues.changelog(seen.id)
        assert [(c.id, c.job_id) for c in log] == [(change.id, None)]
        assert await uow.analysis.delete_jobs([]) == 0
