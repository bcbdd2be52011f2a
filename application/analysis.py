"""Use cases of analysis jobs: queue, start, renew, report progress, complete, fail, cancel,
and recover the jobs whose runner died.

Each moves the job along its lifecycle (pending -> running -> completed | failed |
cancelled); a move the lifecycle does not allow raises
:class:`~domain.errors.InvalidTransitionError` and writes nothing. A running job is held
under a lease (see :class:`~domain.analysis.AnalysisJob`): its runner renews it with
:func:`heartbeat` (progress reports renew it too), and :func:`recover_abandoned_jobs`
fails the jobs whose runner is gone, so no job stays running for ever.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

from application._boundary import service
from application._lookup import require_job, require_project
from application.file_index import FileSnapshot, apply_snapshot
from application.tracking import track_analysis
from domain._base import utc_now
from domain.analysis import DEFAULT_LEASE, AnalysisJob, AnalysisResult, CodeMetric
from domain.enums import FileChange, JobStatus
from domain.errors import AnalysisInProgressError, ValidationError
from domain.events import AnalysisCompleted, AnalysisFailed, AnalysisStarted
from domain.files import FileHistoryEntry, FileIndex
from domain.ids import FileId, JobId, ProjectId
from domain.reports import SnapshotResult
from domain.validation import check_instance
from ports.errors import NotFoundError
from ports.pagination import PageRequest
from ports.unit_of_work import UnitOfWork

__all__ = [
    "OwnerAlive",
    "begin_analysis",
    "cancel_analysis",
    "cannot_tell",
    "complete_analysis",
    "enqueue_analysis",
    "fail_analysis",
    "heartbeat",
    "recover_abandoned_jobs",
    "report_progress",
    "start_analysis",
]

_JOB = "AnalysisJob"

OwnerAlive = Callable[[str], bool | None]
"""Whether the process an owner name names is alive (None: cannot tell); see
:class:`ports.runtime.Liveness`."""


def cannot_tell(owner: str) -> bool | None:
    """An OwnerAlive that never knows: abandoned jobs are found by their lease alone."""
    return None


@service
async def enqueue_analysis(
    uow: UnitOfWork,
    project_id: ProjectId,
    *,
    job_type: str = "full",
    priority: int = 5,
    config: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    branch: str | None = None,
    commit_hash: str | None = None,
    dirty: bool = False,
) -> AnalysisJob:
    """Queue a pending analysis job of an existing project (of ``branch`` at
    ``commit_hash``, ``dirty`` if the working tree had uncommitted changes)."""
    job = _new_job(project_id, job_type, priority, config, metadata, branch, commit_hash, dirty)
    async with uow:
        await require_project(uow, project_id)
        created = await uow.analysis.create_job(job)
        await uow.commit()
    return created


@service
async def begin_analysis(
    uow: UnitOfWork,
    project_id: ProjectId,
    *,
    owner: str,
    owner_alive: OwnerAlive = cannot_tell,
    lease: dt.timedelta = DEFAULT_LEASE,
    job_type: str = "full",
    priority: int = 5,
    config: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    branch: str | None = None,
    commit_hash: str | None = None,
    dirty: bool = False,
    exclusive: bool = True,
) -> AnalysisJob:
    """Create a job that is running at once, held by ``owner`` for ``lease``
    (AnalysisStarted), in one unit: nothing is left pending if the runner dies here.

    Under a lock of the project, the project's abandoned jobs are failed first (see
    :func:`recover_abandoned_jobs`); with ``exclusive``, a running job of the same type
    that is not abandoned raises AnalysisInProgressError and nothing is written (a
    concurrent caller waits for the lock, or fails with ConcurrencyError: retry it).
    """
    job = _new_job(project_id, job_type, priority, config, metadata, branch, commit_hash, dirty)
    job.start(owner=owner, lease=lease)
    async with uow:
        project = await uow.projects.lock(project_id)
        running, _ = await _fail_abandoned(uow, project_id, owner_alive, utc_now())
        busy = [j for j in running if j.job_type == job.job_type]
        if exclusive and busy:
            raise AnalysisInProgressError(
                project.slug, busy[0].id, busy[0].owner, busy[0].started_at
            )
        created = await uow.analysis.create_job(job)
        uow.add_event(AnalysisStarted(job_id=job.id, project_id=project_id))
        await uow.commit()
    return created


@service
async def recover_abandoned_jobs(
    uow: UnitOfWork,
    project_id: ProjectId,
    *,
    owner_alive: OwnerAlive = cannot_tell,
    now: dt.datetime | None = None,
) -> list[AnalysisJob]:
    """Fail the project's running jobs that are abandoned: left without a lease, whose
    owner is gone (``owner_alive``), or whose lease expired before ``now``; each gets the
    reason as its error (AnalysisFailed). Returns the jobs it failed."""
    async with uow:
        await uow.projects.lock(project_id)
        _, failed = await _fail_abandoned(uow, project_id, owner_alive, now or utc_now())
        await uow.commit()
    return failed


async def _running_jobs(uow: UnitOfWork, project_id: ProjectId) -> list[AnalysisJob]:
    jobs: list[AnalysisJob] = []
    cursor = None
    while True:
        page = await uow.analysis.list_jobs(
            project_id, PageRequest(limit=1000, cursor=cursor), status=JobStatus.RUNNING
        )
        jobs += page.items
        if page.next_cursor is None:
            return jobs
        cursor = page.next_cursor


async def _fail_abandoned(
    uow: UnitOfWork, project_id: ProjectId, owner_alive: OwnerAlive, now: dt.datetime
) -> tuple[list[AnalysisJob], list[AnalysisJob]]:
    """Fail the abandoned running jobs of the project in the caller's unit; returns the
    running jobs that are not abandoned, and the jobs it failed."""
    alive: list[AnalysisJob] = []
    failed: list[AnalysisJob] = []
    for job in await _running_jobs(uow, project_id):
        reason = job.abandonment(now, owner_alive=owner_alive(job.owner) if job.owner else None)
        if reason is None:
            alive.append(job)
            continue
        message = f"abandoned: {reason}"
        job.fail(message, at=now)
        failed.append(await uow.analysis.update_job(job))
        uow.add_event(
            AnalysisFailed(
                job_id=job.id, project_id=project_id, status=JobStatus.FAILED, error=message
            )
        )
    return alive, failed


@service
async def start_analysis(
    uow: UnitOfWork,
    job_id: JobId,
    *,
    owner: str | None = None,
    lease: dt.timedelta = DEFAULT_LEASE,
) -> AnalysisJob:
    """Move a pending job to running, held by ``owner`` for ``lease`` (AnalysisStarted);
    returns it as stored."""
    async with uow:
        job = await _working_copy(uow, job_id)
        job.start(owner=owner, lease=lease)
        updated = await uow.analysis.update_job(job)
        uow.add_event(AnalysisStarted(job_id=job.id, project_id=job.project_id))
        await uow.commit()
    return updated


@service
async def heartbeat(
    uow: UnitOfWork, job_id: JobId, *, lease: dt.timedelta = DEFAULT_LEASE
) -> AnalysisJob:
    """Renew the lease of a running job for ``lease`` from now."""
    async with uow:
        job = await _working_copy(uow, job_id)
        job.heartbeat(lease=lease)
        updated = await uow.analysis.update_job(job)
        await uow.commit()
    return updated


@service
async def report_progress(
    uow: UnitOfWork, job_id: JobId, progress: int, *, lease: dt.timedelta = DEFAULT_LEASE
) -> AnalysisJob:
    """Record the progress (0-100) of a running job, renewing its lease."""
    async with uow:
        job = await _working_copy(uow, job_id)
        job.report_progress(progress, lease=lease)
        updated = await uow.analysis.update_job(job)
        await uow.commit()
    return updated


@service
async def complete_analysis(
    uow: UnitOfWork,
    job_id: JobId,
    *,
    results: Sequence[AnalysisResult] = (),
    metrics: Sequence[CodeMetric] = (),
    snapshot: FileSnapshot | None = None,
    analysed: Sequence[FileId] = (),
    metadata: dict[str, Any] | None = None,
    before_commit: Callable[[], Awaitable[object]] | None = None,
) -> AnalysisJob:
    """Complete a running job in one unit: its file snapshot, its file history, its
    results and metrics, its status, and its project's ``last_analyzed_at`` and quality
    score (AnalysisCompleted with the counts written). The branch's issues are tracked in
    the same unit (:func:`~application.tracking.track_analysis`): each result names its
    issue, and the branch's measures and quality gate are recorded; the job's metadata
    says what tracking did (``issues``) and the gate's status (``gate``).

    The job analysed the files ``analysed`` and those its results and metrics belong to;
    each gets a history entry, so the job holds their results and metrics (and later jobs
    do, until the file is analysed again). With ``snapshot``, the repository's file index
    becomes the snapshot first (see :func:`~application.file_index.record_file_snapshot`):
    the analysed files must be among its files, with the ids the index keeps for them,
    their history says how each changed, and the files it removes get a DELETED entry.
    ``metadata`` is merged into the job's.

    ``before_commit`` is awaited last, just before the unit commits: what else must be
    done for the job to be complete (the index job's embeddings are written meanwhile).
    If it raises, nothing is written and its error is the call's.

    Every result and metric must belong to the job, and no two metrics may share a file,
    type and name; otherwise ValidationError, with nothing written.
    """
    _check_output(job_id, results, metrics)
    covered = list(
        dict.fromkeys(
            [
                *analysed,
                *(r.file_id for r in results if r.file_id is not None),
                *(m.file_id for m in metrics),
            ]
        )
    )
    if metadata is not None:
        check_instance("metadata", metadata, dict, entity=_JOB)
    async with uow:
        job = await _working_copy(uow, job_id)
        job.complete()
        if metadata:
            job.metadata = {**job.metadata, **metadata}
        project = await uow.projects.lock(job.project_id)  # for last_analyzed_at
        if snapshot is not None:
            outcome = await apply_snapshot(uow, snapshot)
            entries = _snapshot_history(job_id, snapshot, outcome, covered)
        else:
            entries = [await _analysed_entry(uow, job_id, file_id) for file_id in covered]
        await uow.files.record_history(entries)
        touched = [e.file_id for e in entries]
        results, tracked = await track_analysis(uow, job, project, results, touched)
        job.metadata = {**job.metadata, **tracked.summary()}
        result_count = await uow.analysis.create_results(results) if results else 0
        metric_count = await uow.analysis.create_metrics(metrics) if metrics else 0
        updated = await uow.analysis.update_job(job)
        await uow.projects.update(
            attrs.evolve(
                project,
                last_analyzed_at=job.completed_at,
                metadata=attrs.evolve(project.metadata, quality_score=tracked.measures["score"]),
            )
        )
        uow.add_event(
            AnalysisCompleted(
                job_id=job.id,
                project_id=job.project_id,
                result_count=result_count,
                metric_count=metric_count,
            )
        )
        if before_commit is not None:
            await before_commit()
        await uow.commit()
    return updated


def _history_entry(
    job_id: JobId, file: FileIndex, change: FileChange, previous_path: str | None = None
) -> FileHistoryEntry:
    return FileHistoryEntry(
        file_id=file.id,
        job_id=job_id,
        change=change,
        relative_path=file.relative_path,
        previous_path=previous_path,
        file_hash=file.file_hash,
        line_count=file.line_count,
        size_bytes=file.size_bytes,
    )


async def _analysed_entry(uow: UnitOfWork, job_id: JobId, file_id: FileId) -> FileHistoryEntry:
    file = await uow.files.find_by_id(file_id)
    if file is None:
        raise NotFoundError("file", file_id)
    return _history_entry(job_id, file, FileChange.ANALYSED)


def _snapshot_history(
    job_id: JobId, snapshot: FileSnapshot, outcome: SnapshotResult, covered: Sequence[FileId]
) -> list[FileHistoryEntry]:
    """The history of a job that recorded ``snapshot``: how each file it analysed changed,
    and a DELETED entry for each file the snapshot removed."""
    files = {f.id: f for f in snapshot.files}
    change: dict[FileId, tuple[FileChange, str | None]] = {}
    for ref in outcome.added:
        change[ref.id] = (FileChange.ADDED, None)
    for ref in outcome.modified:
        change[ref.id] = (FileChange.MODIFIED, None)
    for ref in outcome.restored:
        change[ref.id] = (FileChange.RESTORED, None)
    for rename in outcome.renamed:
        change[rename.id] = (FileChange.RENAMED, rename.previous_path)
    entries = []
    for file_id in covered:
        file = files.get(file_id)
        if file is None:
            raise ValidationError(
                "analysed",
                file_id,
                "must be a file of the snapshot, with the id the index keeps for it",
                entity=_JOB,
            )
        kind, previous = change.get(file_id, (FileChange.ANALYSED, None))
        entries.append(_history_entry(job_id, file, kind, previous))
    entries += [
        FileHistoryEntry(
            file_id=ref.id,
            job_id=job_id,
            change=FileChange.DELETED,
            relative_path=ref.relative_path,
        )
        for ref in outcome.removed
    ]
    return entries


@service
async def fail_analysis(uow: UnitOfWork, job_id: JobId, error: str) -> AnalysisJob:
    """Mark a pending or running job failed with ``error`` (AnalysisFailed, FAILED)."""
    return await _end(uow, job_id, lambda job: job.fail(error), error)


@service
async def cancel_analysis(uow: UnitOfWork, job_id: JobId) -> AnalysisJob:
    """Cancel a pending or running job (AnalysisFailed, CANCELLED)."""
    return await _end(uow, job_id, lambda job: job.cancel(), None)


async def _end(
    uow: UnitOfWork, job_id: JobId, end: Callable[[AnalysisJob], None], error: str | None
) -> AnalysisJob:
    """End a job without completing it (``end`` moves it), with AnalysisFailed."""
    async with uow:
        job = await _working_copy(uow, job_id)
        end(job)
        updated = await uow.analysis.update_job(job)
        uow.add_event(
            AnalysisFailed(job_id=job.id, project_id=job.project_id, status=job.status, error=error)
        )
        await uow.commit()
    return updated


def _new_job(
    project_id: ProjectId,
    job_type: str,
    priority: int,
    config: dict[str, Any] | None,
    metadata: dict[str, Any] | None,
    branch: str | None,
    commit_hash: str | None,
    dirty: bool,
) -> AnalysisJob:
    return AnalysisJob(
        project_id=project_id,
        job_type=job_type,
        priority=priority,
        config={} if config is None else check_instance("config", config, dict, entity=_JOB),
        metadata={}
        if metadata is None
        else check_instance("metadata", metadata, dict, entity=_JOB),
        branch=branch,
        commit_hash=commit_hash,
        dirty=dirty,
    )


async def _working_copy(uow: UnitOfWork, job_id: JobId) -> AnalysisJob:
    """A copy of the stored job, so a refused transition leaves nothing half-changed."""
    return attrs.evolve(await require_job(uow, job_id))


def _check_output(
    job_id: JobId, results: Sequence[AnalysisResult], metrics: Sequence[CodeMetric]
) -> None:
    owned: tuple[tuple[str, Sequence[AnalysisResult | CodeMetric], type[Any]], ...] = (
        ("results", results, AnalysisResult),
        ("metrics", metrics, CodeMetric),
    )
    for field, items, expected in owned:
        for item in items:
            check_instance(field, item, expected)
            if item.job_id != job_id:
                raise ValidationError(
                    "job_id",
                    item.job_id,
                    f"must be the completed job {job_id}",
                    entity=expected.__name__,
                )
    keys = Counter((m.file_id, m.metric_type, m.metric_name) for m in metrics)
    repeated = sorted(f"{t}/{n} of file {f}" for (f, t, n), k in keys.items() if k > 1)
    if repeated:
        raise ValidationError(
            "metric_name", repeated, "must be unique per file and metric type", entity="CodeMetric"
        )
