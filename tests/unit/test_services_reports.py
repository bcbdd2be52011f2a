"""Reporting services, against the in-memory store."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest

from adapters.memory.unit_of_work import MemoryUnitOfWork
from application import (
    complete_analysis,
    enqueue_analysis,
    hotspots,
    issues_summary,
    metric_aggregation,
    project_report,
    record_file_snapshot,
    register_repository,
    start_analysis,
)
from domain.analysis import AnalysisResult, CodeMetric
from domain.enums import Category, MetricType, Severity
from domain.errors import ValidationError
from domain.files import FileIndex
from domain.ids import ProjectId, RuleId, new_id
from domain.projects import Project
from ports.errors import NotFoundError
from tests.unit.fakes import Committed


@pytest.fixture
async def analysed(uow: MemoryUnitOfWork, project: Project) -> list[FileIndex]:
    """A project whose completed job found three issues in one file and one in another,
    and measured the complexity of both."""
    repository = await register_repository(
        uow, project.id, local_path="/srv/billing", remote_url="", default_branch="main"
    )
    files = [
        FileIndex(
            repository_id=repository.id,
            relative_path=path,
            absolute_path=f"/srv/billing/{path}",
            size_bytes=1000,
            file_hash=hashlib.sha256(path.encode()).hexdigest(),
            last_modified=dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
        )
        for path in ("invoice.py", "tax.py")
    ]
    await record_file_snapshot(uow, repository.id, files)
    job = await enqueue_analysis(uow, project.id)
    await start_analysis(uow, job.id)
    findings = [
        (files[0], Severity.CRITICAL, Category.SECURITY),
        (files[0], Severity.LOW, Category.STYLE),
        (files[0], Severity.LOW, Category.STYLE),
        (files[1], Severity.HIGH, Category.BUG),
    ]
    results = [
        AnalysisResult(
            job_id=job.id,
            file_id=file.id,
            rule_id=RuleId("rule"),
            severity=severity,
            category=category,
            title="Finding",
            description="Something to fix.",
        )
        for file, severity, category in findings
    ]
    metrics = [
        CodeMetric(
            file_id=file.id,
            job_id=job.id,
            metric_type=MetricType.COMPLEXITY,
            metric_name="cyclomatic",
            value=value,
            threshold_max=10.0,
        )
        for file, value in zip(files, (14.0, 4.0), strict=True)
    ]
    await complete_analysis(uow, job.id, results=results, metrics=metrics)
    return files


async def test_issues_summary_counts_by_severity(
    uow: MemoryUnitOfWork, project: Project, analysed: list[FileIndex]
) -> None:
    """The summary counts the completed job's issues by severity and category."""
    summary = await issues_summary(uow, project.id)
    assert summary.total == 4
    assert summary.by_severity() == {Severity.CRITICAL: 1, Severity.HIGH: 1, Severity.LOW: 2}
    assert summary.rows[0].severity is Severity.CRITICAL


async def test_metric_aggregation_summarizes_a_metric_type(
    uow: MemoryUnitOfWork, project: Project, analysed: list[FileIndex]
) -> None:
    """The aggregation gives count, bounds, mean and violations per metric name."""
    aggregation = await metric_aggregation(uow, project.id, MetricType.COMPLEXITY)
    stats = aggregation.get("cyclomatic")
    assert stats is not None
    assert (stats.count, stats.min, stats.max, stats.avg, stats.violations) == (2, 4, 14, 9, 1)


async def test_hotspots_puts_the_file_with_most_issues_first(
    uow: MemoryUnitOfWork, project: Project, analysed: list[FileIndex]
) -> None:
    """The file with three issues comes before the file with one."""
    spots = await hotspots(uow, project.id)
    assert [(s.relative_path, s.issues) for s in spots] == [("invoice.py", 3), ("tax.py", 1)]
    assert spots[0].worst_severity is Severity.CRITICAL


async def test_project_report_bundles_everything_without_writing(
    uow: MemoryUnitOfWork, project: Project, analysed: list[FileIndex], committed: Committed
) -> None:
    """The report holds the summary, an aggregation of every metric type and the
    hotspots, and reading it writes nothing."""
    before = committed()
    report = await project_report(uow, project.id, hotspot_limit=1)
    assert committed() == before
    assert report.project.id == project.id
    assert report.summary.total == 4
    assert set(report.aggregations) == set(MetricType)
    assert report.aggregations[MetricType.COMPLEXITY].get("cyclomatic") is not None
    assert report.aggregations[MetricType.SECURITY].metrics == ()
    assert [s.relative_path for s in report.hotspots] == ["invoice.py"]


async def test_reports_of_a_missing_project_raise_not_found(uow: MemoryUnitOfWork) -> None:
    """Every report of an unknown project raises NotFoundError naming the project."""
    missing = ProjectId(new_id())
    for report in (issues_summary, hotspots, project_report):
        with pytest.raises(NotFoundError) as caught:
            await report(uow, missing)
        assert caught.value.entity == "project"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda uow, pid: issues_summary(uow, pid, days=0), "days"),
        (lambda uow, pid: metric_aggregation(uow, pid, cast(Any, "speed")), "metric_type"),
        (lambda uow, pid: hotspots(uow, pid, limit=0), "limit"),
    ],
    ids=["days", "metric_type", "limit"],
)
async def test_reports_reject_bad_arguments(
    uow: MemoryUnitOfWork,
    project: Project,
    call: Callable[[MemoryUnitOfWork, ProjectId], Awaitable[object]],
    field: str,
) -> None:
    """A window of no days, an unknown metric type or a zero limit raise ValidationError."""
    with pytest.raises(ValidationError) as caught:
        await call(uow, project.id)
    assert caught.value.field == field
