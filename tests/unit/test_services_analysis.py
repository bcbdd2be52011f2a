"""Analysis-job services, against the in-memory store: the lifecycle and its events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

import pytest

from adapters.memory.database import MemoryDatabase
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application import (
    cancel_analysis,
    complete_analysis,
    enqueue_analysis,
    fail_analysis,
    record_file_snapshot,
    register_repository,
    report_progress,
    start_analysis,
)
from domain.analysis import AnalysisJob, AnalysisResult, CodeMetric
from domain.enums import Category, JobStatus, MetricType, Severity
from domain.errors import InvalidTransitionError, ValidationError
from domain.events import AnalysisCompleted, AnalysisFailed, AnalysisStarted
from domain.files import FileIndex
from domain.ids import JobId, ProjectId, RuleId, new_id
from domain.projects import Project
from ports.errors import NotFoundError
from ports.pagination import PageRequest
from tests.unit.fakes import Committed, Events


@pytest.fixture
async def file(uow: MemoryUnitOfWork, project: Project) -> FileIndex:
    repository = await register_repository(
        uow, project.id, local_path="/srv/billing", remote_url="", default_branch="main"
    )
    indexed = FileIndex(
        repository_id=repository.id,
        relative_path="billing/invoice.py",
        absolute_path="/srv/billing/billing/invoice.py",
        size_bytes=2048,
        file_hash="f" * 64,
        last_modified=dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
    )
    await record_file_snapshot(uow, repository.id, [indexed])
    return indexed


def _result(
    job_id: JobId, file: FileIndex, title: str = "SQL built by string concatenation"
) -> AnalysisResult:
    return AnalysisResult(
        job_id=job_id,
        file_id=file.id,
        rule_id=RuleId("sql-injection"),
        severity=Severity.CRITICAL,
        category=Category.SECURITY,
        title=title,
        description="User input reaches a query unescaped.",
    )


def _metric(
    job_id: JobId, file: FileIndex, name: str = "cyclomatic", value: float = 12.0
) -> CodeMetric:
    return CodeMetric(
        file_id=file.id,
        job_id=job_id,
        metric_type=MetricType.COMPLEXITY,
        metric_name=name,
        value=value,
        threshold_max=10.0,
    )


async def _job(db: MemoryDatabase, job_id: JobId) -> AnalysisJob:
    async with MemoryUnitOfWork(db, system=True) as fresh:
        job = await fresh.analysis.find_job_by_id(job_id)
    assert job is not None
    return job


async def _running_job(uow: MemoryUnitOfWork, project: Project) -> AnalysisJob:
    job = await enqueue_analysis(uow, project.id)
    return await start_analysis(uow, job.id)


async def test_a_job_runs_its_whole_lifecycle(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project, file: FileIndex, events: Events
) -> None:
    """pending -> running -> completed stores the results and metrics, stamps the project
    and raises AnalysisStarted then AnalysisCompleted with the counts written."""
    before = len(await events())
    job = await enqueue_analysis(uow, project.id, priority=8)
    assert (await _job(db, job.id)).status is JobStatus.PENDING
    await start_analysis(uow, job.id)
    await report_progress(uow, job.id, 40)
    assert (await _job(db, job.id)).progress == 40
    await complete_analysis(
        uow,
        job.id,
        results=[_result(job.id, file), _result(job.id, file, "Hard-coded password")],
        metrics=[_metric(job.id, file), _metric(job.id, file, "nloc", 80.0)],
    )
    stored = await _job(db, job.id)
    assert (stored.status, stored.progress) == (JobStatus.COMPLETED, 100)
    assert stored.completed_at is not None
    assert stored.started_at is not None and stored.completed_at >= stored.started_at
    async with MemoryUnitOfWork(db, system=True) as fresh:
        results = await fresh.analysis.find_results_by_job(job.id, PageRequest())
        metrics = await fresh.analysis.find_metrics_by_file(file.id, job_id=job.id)
        analysed = await fresh.projects.find_by_id(project.id)
    assert len(results) == 2 and len(metrics) == 2
    assert analysed is not None
    assert analysed.last_analyzed_at == stored.completed_at
    published = (await events())[before:]
    assert [type(e) for e in published] == [AnalysisStarted, AnalysisCompleted]
    assert isinstance(published[1], AnalysisCompleted)
    assert (published[1].result_count, published[1].metric_count) == (2, 2)


async def test_completing_a_pending_job_is_an_invalid_transition(
    db: MemoryDatabase,
    uow: MemoryUnitOfWork,
    project: Project,
    file: FileIndex,
    committed: Committed,
) -> None:
    """A job that never started cannot complete, and none of its results are written."""
    job = await enqueue_analysis(uow, project.id)
    before = committed()
    with pytest.raises(InvalidTransitionError) as caught:
        await complete_analysis(uow, job.id, results=[_result(job.id, file)])
    assert (caught.value.current, caught.value.target) == (JobStatus.PENDING, JobStatus.COMPLETED)
    assert committed() == before


@pytest.mark.parametrize(
    ("finish", "args"),
    [(fail_analysis, ("clone failed",)), (cancel_analysis, ())],
    ids=["failed", "cancelled"],
)
async def test_a_finished_job_cannot_start_again(
    uow: MemoryUnitOfWork,
    project: Project,
    committed: Committed,
    finish: Callable[..., Awaitable[AnalysisJob]],
    args: tuple[str, ...],
) -> None:
    """Starting a failed or cancelled job raises InvalidTransitionError and writes nothing."""
    job = await enqueue_analysis(uow, project.id)
    await finish(uow, job.id, *args)
    before = committed()
    with pytest.raises(InvalidTransitionError):
        await start_analysis(uow, job.id)
    assert committed() == before


async def test_progress_of_a_pending_job_is_refused(
    uow: MemoryUnitOfWork, project: Project, committed: Committed
) -> None:
    """Progress can only be reported while running: ValidationError on ``progress``."""
    job = await enqueue_analysis(uow, project.id)
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await report_progress(uow, job.id, 10)
    assert caught.value.field == "progress"
    assert committed() == before


async def test_complete_refuses_results_of_another_job(
    db: MemoryDatabase,
    uow: MemoryUnitOfWork,
    project: Project,
    file: FileIndex,
    committed: Committed,
) -> None:
    """A result of another job raises ValidationError on ``job_id``; the job stays running."""
    job = await _running_job(uow, project)
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await complete_analysis(uow, job.id, results=[_result(JobId(new_id()), file)])
    assert caught.value.field == "job_id"
    assert committed() == before
    assert (await _job(db, job.id)).status is JobStatus.RUNNING


async def test_complete_refuses_a_metric_measured_twice(
    uow: MemoryUnitOfWork, project: Project, file: FileIndex, committed: Committed
) -> None:
    """Two metrics of one file, type and name raise ValidationError on ``metric_name``."""
    job = await _running_job(uow, project)
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await complete_analysis(
            uow, job.id, metrics=[_metric(job.id, file), _metric(job.id, file, value=3.0)]
        )
    assert caught.value.field == "metric_name"
    assert committed() == before


async def test_fail_analysis_records_the_error(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project, events: Events
) -> None:
    """A failed job keeps its error message and AnalysisFailed says FAILED with it."""
    job = await _running_job(uow, project)
    await fail_analysis(uow, job.id, "parser crashed")
    stored = await _job(db, job.id)
    assert (stored.status, stored.error_message) == (JobStatus.FAILED, "parser crashed")
    last = (await events())[-1]
    assert isinstance(last, AnalysisFailed)
    assert (last.status, last.error) == (JobStatus.FAILED, "parser crashed")


async def test_cancel_analysis_of_a_pending_job(
    db: MemoryDatabase, uow: MemoryUnitOfWork, project: Project, events: Events
) -> None:
    """A pending job can be cancelled; AnalysisFailed says CANCELLED."""
    job = await enqueue_analysis(uow, project.id)
    await cancel_analysis(uow, job.id)
    assert (await _job(db, job.id)).status is JobStatus.CANCELLED
    last = (await events())[-1]
    assert isinstance(last, AnalysisFailed) and last.status is JobStatus.CANCELLED


async def test_enqueue_rejects_a_priority_out_of_range(
    uow: MemoryUnitOfWork, project: Project, committed: Committed
) -> None:
    """A priority above 10 raises ValidationError on ``priority``."""
    before = committed()
    with pytest.raises(ValidationError) as caught:
        await enqueue_analysis(uow, project.id, priority=11)
    assert caught.value.field == "priority"
    assert committed() == before


async def test_enqueue_needs_an_existing_project(
    uow: MemoryUnitOfWork, committed: Committed
) -> None:
    """A job of an unknown project raises NotFoundError naming the project."""
    before = committed()
    with pytest.raises(NotFoundError) as caught:
        await enqueue_analysis(uow, ProjectId(new_id()))
    assert caught.value.entity == "project"
    assert committed() == before


async def test_starting_a_missing_job_raises_not_found(uow: MemoryUnitOfWork) -> None:
    """An unknown job id raises NotFoundError naming the job."""
    with pytest.raises(NotFoundError) as caught:
        await start_analysis(uow, JobId(new_id()))
    assert caught.value.entity == "analysis job"
