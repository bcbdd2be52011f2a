"""Use cases of analysis jobs: queue, start, report progress, complete, fail, cancel.

Each moves the job along its lifecycle (pending -> running -> completed | failed |
cancelled); a move the lifecycle does not allow raises
:class:`~domain.errors.InvalidTransitionError` and writes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from application._checks import instance_of
from application._lookup import require_job, require_project
from domain.analysis import AnalysisJob, AnalysisResult, CodeMetric
from domain.errors import ValidationError
from domain.events import AnalysisCompleted, AnalysisFailed, AnalysisStarted
from domain.ids import FileId, JobId, ProjectId
from ports.unit_of_work import UnitOfWork

__all__ = [
    "cancel_analysis",
    "complete_analysis",
    "enqueue_analysis",
    "fail_analysis",
    "report_progress",
    "start_analysis",
]

_JOB = "AnalysisJob"


async def enqueue_analysis(
    uow: UnitOfWork,
    project_id: ProjectId,
    *,
    job_type: str = "full",
    priority: int = 5,
    config: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> AnalysisJob:
    """Queue a pending analysis job of an existing project."""
    job = AnalysisJob(
        project_id=project_id,
        job_type=job_type,
        priority=priority,
        config={} if config is None else instance_of("config", config, dict, entity=_JOB),
        metadata={} if metadata is None else instance_of("metadata", metadata, dict, entity=_JOB),
    )
    async with uow:
        await require_project(uow, project_id)
        created = await uow.analysis.create_job(job)
        await uow.commit()
    return created


async def start_analysis(uow: UnitOfWork, job_id: JobId) -> AnalysisJob:
    """Move a pending job to running (AnalysisStarted); returns it as stored."""
    async with uow:
        job = await _working_copy(uow, job_id)
        job.start()
        updated = await uow.analysis.update_job(job)
        uow.add_event(AnalysisStarted(job_id=job.id, project_id=job.project_id))
        await uow.commit()
    return updated


async def report_progress(uow: UnitOfWork, job_id: JobId, progress: int) -> AnalysisJob:
    """Record the progress (0-100) of a running job."""
    async with uow:
        job = await _working_copy(uow, job_id)
        job.report_progress(progress)
        updated = await uow.analysis.update_job(job)
        await uow.commit()
    return updated


async def complete_analysis(
    uow: UnitOfWork,
    job_id: JobId,
    *,
    results: Sequence[AnalysisResult] = (),
    metrics: Sequence[CodeMetric] = (),
    carry_over: tuple[JobId, Sequence[FileId]] | None = None,
) -> AnalysisJob:
    """Complete a running job: write its results and metrics in bulk, mark it completed
    and set its project's ``last_analyzed_at`` (AnalysisCompleted with the counts written).

    Every result and metric must belong to the job, and no two metrics may share a file,
    type and name; otherwise ValidationError, with nothing written. ``carry_over`` is a
    previous job and files whose results and metrics are copied into this job in the same
    unit (the files an incremental analysis did not analyse again).
    """
    _check_output(job_id, results, metrics)
    async with uow:
        job = await _working_copy(uow, job_id)
        job.complete()
        project = await require_project(uow, job.project_id)
        analysed = attrs.evolve(project, last_analyzed_at=job.completed_at)
        result_count = await uow.analysis.create_results(results) if results else 0
        metric_count = await uow.analysis.create_metrics(metrics) if metrics else 0
        if carry_over is not None and carry_over[1]:
            carried_results, carried_metrics = await uow.analysis.carry_over(
                carry_over[0], job_id, carry_over[1]
            )
            result_count += carried_results
            metric_count += carried_metrics
        updated = await uow.analysis.update_job(job)
        await uow.projects.update(analysed)
        uow.add_event(
            AnalysisCompleted(
                job_id=job.id,
                project_id=job.project_id,
                result_count=result_count,
                metric_count=metric_count,
            )
        )
        await uow.commit()
    return updated


async def fail_analysis(uow: UnitOfWork, job_id: JobId, error: str) -> AnalysisJob:
    """Mark a pending or running job failed with ``error`` (AnalysisFailed, FAILED)."""
    return await _end(uow, job_id, lambda job: job.fail(error), error)


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
            instance_of(field, item, expected)
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
