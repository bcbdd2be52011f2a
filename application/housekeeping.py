"""Housekeeping: delete what the retention policy no longer keeps.

* Analyses: per project, the completed analyses :func:`domain.quality.analyses_to_keep`
  keeps (every recent one, then the latest of each day, week and month, and always each
  branch's latest), the analysis an ``analysis`` new-code period names, and every job
  still pending or running stay; the others, and the failed or cancelled jobs older than
  ``keep_all``, are candidates. A candidate is deleted only if none of those jobs holds
  one of its file analyses (a job holds the latest analysis of each file up to it, so
  deleting that one would change the results the job holds), so what each of them
  holds is the same after housekeeping as before. A candidate kept for that reason
  stays as the holder of those file analyses: what it held itself of earlier analyses
  may go (keeping that too would keep every analysis a file's history runs through).
* Closed issues, with their changelogs, once they have been closed for
  ``closed_issues``.
* Delivered outbox events older than ``delivered_events``.

Each project is cleaned in a unit of work of its own (a sibling of the one given), retried
on ConcurrencyError, so a long run holds no lock for long and one project's failure does
not undo another's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from functools import partial

import attrs

from application._boundary import service
from application._lookup import require_project
from application._walk import every_organization, every_project
from application.retry import with_retry
from domain._base import utc_now
from domain.analysis import AnalysisJob
from domain.enums import JobStatus, NewCodeKind
from domain.ids import FileId, JobId, ProjectId
from domain.quality import Analysis, RetentionPolicy, analyses_to_keep
from ports.outbox import Outbox
from ports.pagination import PageRequest
from ports.repositories import FileAnalysis
from ports.unit_of_work import UnitOfWork

__all__ = ["DEFAULT_POLICY", "HousekeepingReport", "ProjectHousekeeping", "housekeeping"]

DEFAULT_POLICY = RetentionPolicy()
"""The retention policy housekeeping applies unless given another."""

_UNSUCCESSFUL = frozenset({JobStatus.FAILED, JobStatus.CANCELLED})


@attrs.frozen(kw_only=True)
class ProjectHousekeeping:
    """What housekeeping did (or, in a dry run, would do) to one project's analyses:
    the jobs deleted, how many stay, and how many of those the policy would have
    deleted but a job that stays holds one of their file analyses."""

    project_id: ProjectId
    deleted: tuple[JobId, ...]
    kept: int
    held: int


@attrs.frozen(kw_only=True)
class HousekeepingReport:
    """What housekeeping deleted (or, with ``dry_run``, would delete): analyses, closed
    issues and delivered outbox events, and how many analyses stay; with the details of
    each project."""

    analyses_deleted: int
    analyses_kept: int
    issues_deleted: int
    events_deleted: int
    dry_run: bool
    per_project: tuple[ProjectHousekeeping, ...]


@service
async def housekeeping(
    uow: UnitOfWork,
    outbox: Outbox | None = None,
    *,
    policy: RetentionPolicy = DEFAULT_POLICY,
    now: dt.datetime | None = None,
    dry_run: bool = False,
    project_id: ProjectId | None = None,
) -> HousekeepingReport:
    """Delete what ``policy`` no longer keeps, as of ``now`` (the current time when None;
    see the module docstring), and report it; with ``dry_run``, report it and delete
    nothing.

    Every project in the unit's scope is cleaned (only ``project_id``, which must exist,
    else NotFoundError, when given). Closed issues are purged in the unit's scope, and
    the outbox (which belongs to no organization) when one is given and the unit is of
    the system scope; neither when ``project_id`` is given, since that purge is not one
    project's."""
    moment = utc_now() if now is None else now
    async with uow:
        if project_id is not None:
            projects = [(await require_project(uow, project_id)).id]
        else:
            projects = [
                project.id
                for organization in await every_organization(uow)
                for project in await every_project(uow, organization)
            ]
    details = []
    for pid in projects:
        clean = partial(_clean_project, uow.sibling(), pid, policy, moment, dry_run)
        details.append(await with_retry(clean))
    issues_deleted = events_deleted = 0
    if project_id is None:
        issues_deleted = await with_retry(
            partial(_purge_closed_issues, uow, moment - policy.closed_issues, dry_run)
        )
        if outbox is not None and uow.organization_id is None:
            events_deleted = await outbox.purge_delivered(
                moment - policy.delivered_events, dry_run=dry_run
            )
    return HousekeepingReport(
        analyses_deleted=sum(len(d.deleted) for d in details),
        analyses_kept=sum(d.kept for d in details),
        issues_deleted=issues_deleted,
        events_deleted=events_deleted,
        dry_run=dry_run,
        per_project=tuple(details),
    )


async def _purge_closed_issues(uow: UnitOfWork, before: dt.datetime, dry_run: bool) -> int:
    """Delete the issues closed before ``before``; in a dry run, the same statement in a
    unit that is rolled back, so the count is exact and nothing is deleted."""
    async with uow:
        deleted = await uow.issues.delete_closed(before=before)
        if not dry_run:
            await uow.commit()
    return deleted


async def _clean_project(
    uow: UnitOfWork,
    project_id: ProjectId,
    policy: RetentionPolicy,
    now: dt.datetime,
    dry_run: bool,
) -> ProjectHousekeeping:
    async with uow:
        jobs = await _every_job(uow, project_id)
        pinned = await _pinned_jobs(uow, project_id, jobs)
        analyses = await uow.analysis.file_analyses(project_id)
        retained = analyses_to_keep(
            (
                Analysis(job_id=j.id, branch=j.branch or "", at=j.created_at)
                for j in jobs
                if j.status is JobStatus.COMPLETED
            ),
            now=now,
            policy=policy,
        )
        staying = {
            j.id
            for j in jobs
            if j.id in retained
            or j.id in pinned
            or not j.status.is_terminal
            or (j.status in _UNSUCCESSFUL and now - j.created_at <= policy.keep_all)
        }
        needed = _held_by(jobs, analyses, staying)
        candidates = [j.id for j in jobs if j.id not in staying]
        deleted = tuple(job_id for job_id in candidates if job_id not in needed)
        if deleted and not dry_run:
            await uow.analysis.delete_jobs(deleted)
            await uow.commit()
    return ProjectHousekeeping(
        project_id=project_id,
        deleted=deleted,
        kept=len(jobs) - len(deleted),
        held=len(candidates) - len(deleted),
    )


async def _every_job(uow: UnitOfWork, project_id: ProjectId) -> list[AnalysisJob]:
    """The project's jobs, oldest first (the order file analyses follow)."""
    jobs: list[AnalysisJob] = []
    cursor = None
    while True:
        page = await uow.analysis.list_jobs(
            project_id, PageRequest(limit=1000, cursor=cursor, sort="created_at")
        )
        jobs += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    jobs.sort(key=lambda j: (j.created_at, j.id))
    return jobs


async def _pinned_jobs(
    uow: UnitOfWork, project_id: ProjectId, jobs: Iterable[AnalysisJob]
) -> set[JobId]:
    """The analyses that a new-code period of the project or of one of its branches
    names: new code is measured from them."""
    branches: list[str | None] = [None, *sorted({j.branch or "" for j in jobs})]
    pinned: set[JobId] = set()
    for branch in branches:
        period = await uow.new_code.get(project_id, branch)
        if period is not None and period.kind is NewCodeKind.ANALYSIS and period.job_id is not None:
            pinned.add(period.job_id)
    return pinned


def _held_by(
    jobs: list[AnalysisJob], analyses: Iterable[FileAnalysis], staying: set[JobId]
) -> set[JobId]:
    """The jobs whose file analyses a staying job holds: walking the jobs in order, each
    file's latest analysis by a completed job (a removal too: it hides the analyses
    before it), as each staying job sees it."""
    by_job: dict[JobId, list[FileAnalysis]] = {}
    for analysis in analyses:
        by_job.setdefault(analysis.job_id, []).append(analysis)
    latest: dict[FileId, JobId] = {}
    needed: set[JobId] = set()
    for job in jobs:
        own = by_job.get(job.id, ())
        if job.status is JobStatus.COMPLETED:
            for analysis in own:
                latest[analysis.file_id] = job.id
            if job.id in staying:
                needed.update(latest.values())
        elif job.id in staying:  # a job holds its own analyses whatever its status
            needed.update(latest[f] for f in latest.keys() - {a.file_id for a in own})
    return needed
