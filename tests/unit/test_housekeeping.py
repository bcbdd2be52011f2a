"""Housekeeping, against the in-memory store: histories of analyses with chosen times,
cleaned as of a chosen moment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.outbox import MemoryOutbox
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application import (
    create_project,
    housekeeping,
    register_organization,
    register_repository,
    set_new_code_period,
)
from application._walk import every_result
from domain.analysis import AnalysisJob
from domain.enums import FileChange, IssueStatus, JobStatus, NewCodeKind, Resolution
from domain.files import FileHistoryEntry, FileIndex
from domain.ids import AnalysisResultId, JobId, ProjectId, RuleId, new_id
from domain.issues import Issue, IssueChange
from domain.projects import Project, Repository
from domain.quality import NewCodePeriod, RetentionPolicy
from ports.errors import NotFoundError
from ports.pagination import PageRequest
from tests.contract import builders
from tests.unit.fakes import Events

NOW = dt.datetime(2024, 6, 15, 12, 0, tzinfo=dt.UTC)  # a Saturday


def day(year: int, month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=dt.UTC)


@attrs.define
class History:
    """A project's analyses, written with the times and statuses a test gives them."""

    uow: MemoryUnitOfWork
    project: Project
    files: dict[str, FileIndex] = attrs.Factory(dict)
    repository: Repository | None = None

    async def file(self, path: str) -> FileIndex:
        if self.repository is None:
            self.repository = await register_repository(
                self.uow,
                self.project.id,
                local_path=f"/srv/{self.project.slug}",
                remote_url="",
                default_branch="main",
            )
        file = builders.file_index(self.repository.id, relative_path=path)
        async with self.uow:
            await self.uow.files.create(file)
            await self.uow.commit()
        self.files[path] = file
        return file

    async def job(
        self,
        at: dt.datetime,
        *,
        branch: str | None = "main",
        status: JobStatus = JobStatus.COMPLETED,
        analysed: Sequence[str] = (),
        deleted: Sequence[str] = (),
        fileless: int = 0,
    ) -> AnalysisJob:
        """A job created at ``at``: the files it analysed (with one result each), those
        it saw removed, and ``fileless`` results of no file."""
        finished = status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
        job = AnalysisJob(
            project_id=self.project.id,
            branch=branch,
            status=status,
            created_at=at,
            updated_at=at,
            completed_at=at + dt.timedelta(minutes=5) if finished else None,
        )
        entries = [
            FileHistoryEntry(
                file_id=self.files[path].id,
                job_id=job.id,
                change=change,
                relative_path=path,
                created_at=at,
            )
            for paths, change in ((analysed, FileChange.ANALYSED), (deleted, FileChange.DELETED))
            for path in paths
        ]
        results = [
            builders.analysis_result(job.id, file_id=self.files[path].id, created_at=at)
            for path in analysed
        ] + [builders.analysis_result(job.id, created_at=at) for _ in range(fileless)]
        async with self.uow:
            await self.uow.analysis.create_job(job)
            await self.uow.files.record_history(entries)
            await self.uow.analysis.create_results(results)
            await self.uow.commit()
        return job

    async def jobs(self) -> dict[JobId, AnalysisJob]:
        async with self.uow:
            page = await self.uow.analysis.list_jobs(
                self.project.id, PageRequest(limit=1000), status=None
            )
        return {j.id: j for j in page.items}

    async def held(self, job: AnalysisJob) -> set[AnalysisResultId]:
        """The ids of the results the job holds (what its reports show)."""
        async with self.uow:
            return {r.id for r in await every_result(self.uow, job.id)}


@pytest.fixture
async def history(uow: MemoryUnitOfWork, project: Project) -> History:
    return History(uow, project)


async def retention_history(h: History) -> dict[str, AnalysisJob]:
    """Analyses of no file across six years, of two branches and a detached HEAD, and
    jobs that failed, were cancelled, or still run or wait."""
    jobs = {
        "a": await h.job(NOW - dt.timedelta(hours=2)),
        "b": await h.job(NOW - dt.timedelta(hours=5)),
        "c": await h.job(day(2024, 6, 12, 8)),
        "d": await h.job(day(2024, 6, 12, 16)),
        "e": await h.job(day(2024, 4, 1)),  # ISO week 14, with f
        "f": await h.job(day(2024, 4, 3)),
        "g": await h.job(day(2023, 1, 10)),  # January 2023, with h
        "h": await h.job(day(2023, 1, 20)),
        "i": await h.job(day(2018, 1, 1)),  # beyond the monthly period
        "pinned": await h.job(day(2017, 3, 1)),
        "feature": await h.job(day(2018, 6, 1), branch="feature"),
        "detached": await h.job(day(2019, 1, 1), branch=None),
        "failed_young": await h.job(NOW - dt.timedelta(hours=1), status=JobStatus.FAILED),
        "failed_old": await h.job(day(2024, 1, 1), status=JobStatus.FAILED),
        "cancelled_old": await h.job(day(2024, 3, 1), status=JobStatus.CANCELLED),
        "running": await h.job(day(2020, 1, 1), status=JobStatus.RUNNING),
        "pending": await h.job(day(2020, 2, 1), status=JobStatus.PENDING),
    }
    await set_new_code_period(
        h.uow, h.project.id, NewCodePeriod(kind=NewCodeKind.ANALYSIS, job_id=jobs["pinned"].id)
    )
    return jobs


RETENTION_DELETES = {"c", "e", "g", "i", "failed_old", "cancelled_old"}


async def test_retention_keeps_the_buckets_latest_each_branch_and_live_jobs(
    history: History,
) -> None:
    """Every recent analysis stays, then the latest of each day, ISO week and month;
    none older, except each branch's latest (a detached HEAD's too) and the analysis a
    new-code period names; failed and cancelled jobs go once old; running and pending
    jobs stay untouched."""
    jobs = await retention_history(history)

    report = await housekeeping(history.uow, now=NOW, project_id=history.project.id)

    left = await history.jobs()
    assert {name for name, job in jobs.items() if job.id not in left} == RETENTION_DELETES
    assert (report.analyses_deleted, report.analyses_kept) == (6, 11)
    [details] = report.per_project
    assert details.project_id == history.project.id
    assert {j for j in details.deleted} == {jobs[n].id for n in RETENTION_DELETES}
    assert (details.kept, details.held, report.dry_run) == (11, 0, False)
    for name in ("running", "pending"):
        job = left[jobs[name].id]
        assert (job.status, job.updated_at) == (jobs[name].status, jobs[name].updated_at)


async def test_a_dry_run_reports_the_same_and_deletes_nothing(
    db: MemoryDatabase,
    uow: MemoryUnitOfWork,
    project: Project,
    outbox: MemoryOutbox,
    committed: Callable[[], Any],
) -> None:
    """A dry run reports the analyses, closed issues and delivered events a real run
    deletes, and writes nothing; the real run then deletes exactly those."""
    now = dt.datetime.now(dt.UTC) + dt.timedelta(days=8)  # the setup's events are delivered
    history = History(uow, project)
    jobs = await retention_history(history)
    await store_issues(uow, closed(project.id, now - dt.timedelta(days=40)), opened(project.id))
    before = committed()
    delivered = (await outbox.stats()).delivered
    assert delivered > 0

    dry = await housekeeping(uow, outbox, now=NOW, dry_run=True)
    dry_outbox = await housekeeping(uow, outbox, now=now, dry_run=True)

    assert committed() == before
    assert (await outbox.stats()).delivered == delivered
    assert dry.dry_run and (dry.analyses_deleted, dry.analyses_kept) == (6, 11)
    assert {j for d in dry.per_project for j in d.deleted} == {
        jobs[n].id for n in RETENTION_DELETES
    }
    assert (dry_outbox.issues_deleted, dry_outbox.events_deleted) == (1, delivered)

    real = await housekeeping(uow, outbox, now=NOW)
    real_outbox = await housekeeping(uow, outbox, now=now)

    assert attrs.evolve(real, dry_run=True) == dry
    assert (real_outbox.issues_deleted, real_outbox.events_deleted) == (1, delivered)
    assert (await outbox.stats()).delivered == 0


async def test_a_job_whose_file_analysis_a_kept_job_holds_is_kept(history: History) -> None:
    """An old analysis whose result of a file a kept analysis still holds (that file was
    not analysed again since), or whose removal of a file hides an older analysis of it,
    stays; one whose every file analysis was superseded goes; what each analysis the
    policy keeps holds is the same after housekeeping as before."""
    for path in ("a.py", "b.py", "c.py"):
        await history.file(path)
    j0 = await history.job(day(2023, 1, 2), analysed=["a.py", "b.py", "c.py"])
    j1 = await history.job(day(2023, 1, 5), analysed=["b.py"])
    j1b = await history.job(day(2023, 1, 10), deleted=["c.py"])
    j2 = await history.job(day(2023, 1, 20), analysed=["a.py"])  # January's latest
    j3 = await history.job(NOW - dt.timedelta(hours=1), analysed=["a.py"], fileless=1)
    held_before = {job.id: await history.held(job) for job in (j2, j3)}
    assert len(held_before[j3.id]) == 3  # a.py of j3, b.py of j1, the file-less one

    report = await housekeeping(history.uow, now=NOW, project_id=history.project.id)

    left = await history.jobs()
    assert set(left) == {j1.id, j1b.id, j2.id, j3.id}
    [details] = report.per_project
    assert (details.deleted, details.held, details.kept) == ((j0.id,), 2, 4)
    assert {job.id: await history.held(left[job.id]) for job in (j2, j3)} == held_before
    async with history.uow:
        for path in ("a.py", "b.py", "c.py"):
            results = await history.uow.analysis.find_results_by_file(history.files[path].id)
            assert j0.id not in {r.job_id for r in results}


async def test_a_running_job_holds_what_it_started_from(history: History) -> None:
    """A running job (which holds the latest analyses before it) keeps the old analysis
    it holds, even when no completed job that stays holds it."""
    await history.file("a.py")
    await history.file("b.py")
    old = await history.job(day(2020, 1, 1), analysed=["a.py", "b.py"], branch="other")
    running = await history.job(day(2020, 1, 2), status=JobStatus.RUNNING)
    latest = await history.job(day(2020, 1, 3), analysed=["a.py", "b.py"], branch="other")
    held = await history.held(running)

    report = await housekeeping(history.uow, now=NOW, project_id=history.project.id)

    assert set(await history.jobs()) == {old.id, running.id, latest.id}
    assert report.analyses_deleted == 0 and report.per_project[0].held == 1
    assert await history.held(running) == held and len(held) == 2


async def test_a_policy_of_nothing_leaves_each_branch_latest_and_live_jobs(
    history: History,
) -> None:
    """With every period zero, only each branch's latest analysis, the running and
    pending jobs and what they hold stay."""
    await history.file("a.py")
    await history.job(day(2024, 6, 1), analysed=["a.py"])
    await history.job(day(2024, 6, 2), analysed=["a.py"])
    main = await history.job(day(2024, 6, 3), analysed=["a.py"])
    side = await history.job(day(2024, 6, 4), branch="side")
    running = await history.job(day(2024, 6, 5), status=JobStatus.RUNNING)
    pending = await history.job(day(2024, 6, 6), status=JobStatus.PENDING)
    failed = await history.job(day(2024, 6, 7), status=JobStatus.FAILED)
    zero = dt.timedelta(0)
    policy = RetentionPolicy(keep_all=zero, daily=zero, weekly=zero, monthly=zero)

    report = await housekeeping(history.uow, policy=policy, now=NOW)

    assert set(await history.jobs()) == {main.id, side.id, running.id, pending.id}
    assert failed.id in report.per_project[0].deleted
    assert report.analyses_deleted == 3


def closed(project_id: ProjectId, at: dt.datetime, **fields: Any) -> Issue:
    return Issue(
        project_id=project_id,
        branch="main",
        rule_id=RuleId("complex-function"),
        severity="medium",
        category="complexity",
        title="Function is too complex",
        status=IssueStatus.CLOSED,
        resolution=Resolution.FIXED,
        closed_at=at,
        first_seen_at=at - dt.timedelta(days=9),
        **fields,
    )


def opened(project_id: ProjectId, **fields: Any) -> Issue:
    return Issue(
        project_id=project_id,
        branch="main",
        rule_id=RuleId("complex-function"),
        severity="medium",
        category="complexity",
        title="Function is too complex",
        first_seen_at=NOW - dt.timedelta(days=2000),
        **fields,
    )


async def store_issues(uow: MemoryUnitOfWork, *issues: Issue) -> None:
    changes = [
        IssueChange(
            issue_id=i.id, actor="analysis", from_status=None, to_status="open", at=i.first_seen_at
        )
        for i in issues
    ]
    async with uow:
        await uow.issues.add_many(issues)
        await uow.issues.add_changes(changes)
        await uow.commit()


async def issue_ids(uow: MemoryUnitOfWork, project_id: ProjectId) -> set[object]:
    async with uow:
        page = await uow.issues.list(project_id, PageRequest(limit=1000))
    return {i.id for i in page.items}


async def test_closed_issues_go_after_the_window_with_their_changelog(
    uow: MemoryUnitOfWork, project: Project
) -> None:
    """Issues closed longer ago than the window are deleted with their changelogs;
    those closed since, and unresolved or resolved ones however old, stay."""
    old = closed(project.id, NOW - dt.timedelta(days=31))
    recent = closed(project.id, NOW - dt.timedelta(days=29))
    ancient_open = opened(project.id)
    verdict = opened(project.id, status="resolved", resolution="wont-fix")
    await store_issues(uow, old, recent, ancient_open, verdict)

    report = await housekeeping(uow, now=NOW)

    assert report.issues_deleted == 1
    assert await issue_ids(uow, project.id) == {recent.id, ancient_open.id, verdict.id}
    async with uow:
        assert await uow.issues.changelog(old.id) == []
        assert len(await uow.issues.changelog(recent.id)) == 1


async def test_delivered_events_go_after_their_window_and_pending_ones_stay(
    uow: MemoryUnitOfWork, project: Project, outbox: MemoryOutbox, events: Events
) -> None:
    """Delivered outbox events older than the window are deleted; younger ones, and
    pending events however old, stay."""
    await create_project(
        uow,
        project.organization_id,
        name="Shop",
        slug="shop",
        repository_url="https://git.example.com/acme/shop.git",
    )
    waiting = await events()
    delivered = (await outbox.stats()).delivered
    assert waiting and delivered
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=6)

    assert (await housekeeping(uow, outbox, now=soon)).events_deleted == 0
    report = await housekeeping(uow, outbox, now=soon + dt.timedelta(days=2))

    assert report.events_deleted == delivered
    stats = await outbox.stats()
    assert (stats.delivered, stats.pending) == (0, len(waiting))
    assert await events() == waiting


async def test_an_organizations_unit_cleans_its_own_projects_only(db: MemoryDatabase) -> None:
    """A unit opened for one organization cleans its projects and closed issues, not
    another organization's, and leaves the outbox (which is no organization's) alone."""
    system = MemoryUnitOfWork(db, system=True)
    outbox = MemoryOutbox(db)
    mine, theirs = [await _organization_with_history(system, slug) for slug in ("acme", "globex")]
    await outbox.mark_delivered([m.id for m in await outbox.pending(limit=1000)])
    scoped = MemoryUnitOfWork(db, organization_id=mine.project.organization_id)

    report = await housekeeping(scoped, outbox, now=NOW + dt.timedelta(days=3000))

    assert [d.project_id for d in report.per_project] == [mine.project.id]
    assert (report.analyses_deleted, report.issues_deleted, report.events_deleted) == (1, 1, 0)
    assert len(await theirs.jobs()) == 2
    assert len(await issue_ids(system, theirs.project.id)) == 1
    assert len(await mine.jobs()) == 1 and await issue_ids(system, mine.project.id) == set()
    assert (await outbox.stats()).delivered > 0


async def _organization_with_history(uow: MemoryUnitOfWork, slug: str) -> History:
    organization = await register_organization(uow, name=slug.title(), slug=slug)
    project = await create_project(
        uow,
        organization.id,
        name="Billing",
        slug="billing",
        repository_url=f"https://git.example.com/{slug}/billing.git",
    )
    h = History(uow, project)
    await h.job(day(2010, 1, 1))
    await h.job(day(2011, 1, 1))
    await store_issues(uow, closed(project.id, day(2012, 1, 1)))
    return h


async def test_one_project_is_cleaned_alone(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project, outbox: MemoryOutbox
) -> None:
    """With a project, only its analyses are cleaned: the other projects' analyses,
    the closed issues and the outbox are left for a run over every project."""
    other = await create_project(
        uow,
        project.organization_id,
        name="Shop",
        slug="shop",
        repository_url="https://git.example.com/acme/shop.git",
    )
    mine, theirs = History(uow, project), History(uow, other)
    for h in (mine, theirs):
        await h.job(day(2010, 1, 1))
        await h.job(day(2011, 1, 1))
    await store_issues(uow, closed(project.id, day(2012, 1, 1)))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)

    report = await housekeeping(uow, outbox, now=later, project_id=project.id)

    assert (report.analyses_deleted, report.issues_deleted, report.events_deleted) == (1, 0, 0)
    assert (len(await mine.jobs()), len(await theirs.jobs())) == (1, 2)
    assert len(await issue_ids(uow, project.id)) == 1
    with pytest.raises(NotFoundError, match="project"):
        await housekeeping(uow, now=later, project_id=ProjectId(new_id()))


async def test_housekeeping_of_an_empty_store_reports_nothing() -> None:
    """A store with no project has nothing to clean."""
    db = MemoryDatabase()
    report = await housekeeping(MemoryUnitOfWork(db, system=True), MemoryOutbox(db))
    assert report == type(report)(
        analyses_deleted=0,
        analyses_kept=0,
        issues_deleted=0,
        events_deleted=0,
        dry_run=False,
        per_project=(),
    )
