"""Contract of the reporting queries of AnalysisRepository: metric aggregation and hotspots
over a project's latest completed job, and the issues summary over a time window."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable

from domain.analysis import AnalysisJob, AnalysisResult
from domain.enums import FileChange, JobStatus, MetricType, Severity
from domain.files import FileHistoryEntry, FileIndex
from domain.ids import FileId, ProjectId
from domain.reports import FileHotspot, MetricStats
from tests.contract.builders import (
    analysis_job,
    analysis_result,
    at,
    code_metric,
    file_index,
    read,
    scaffold,
    store,
)
from tests.contract.conftest import Backend

NOW = at(0)


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


async def test_aggregate_metrics_summarizes_the_latest_completed_job_only(backend: Backend) -> None:
    """Statistics per metric name cover only the metrics of the given type in the newest
    completed job, with exact count, min, max, avg, sum and violations."""
    base = await scaffold(backend)
    files = [file_index(base.repository.id) for _ in range(3)]
    older = analysis_job(base.project.id, status="completed", created_at=at(0))
    latest = analysis_job(base.project.id, status="completed", created_at=at(1))
    running = analysis_job(base.project.id, status="running", created_at=at(2))
    await store(backend, *files, older, latest, running)
    a, b, c = (f.id for f in files)
    await store(
        backend,
        code_metric(a, latest.id, metric_name="cyclomatic", value=2, threshold_min=3),
        code_metric(b, latest.id, metric_name="cyclomatic", value=7, threshold_max=10),
        code_metric(c, latest.id, metric_name="cyclomatic", value=12, threshold_max=10),
        code_metric(a, latest.id, metric_name="cognitive", value=1.5),
        code_metric(b, latest.id, metric_name="cognitive", value=2.25),
        code_metric(a, latest.id, metric_type="size", metric_name="nloc", value=500),
        code_metric(a, older.id, metric_name="cyclomatic", value=99),
        code_metric(a, running.id, metric_name="cyclomatic", value=77),
    )

    report = await read(
        backend, lambda uow: uow.analysis.aggregate_metrics(base.project.id, MetricType.COMPLEXITY)
    )

    assert report.project_id == base.project.id
    assert report.metric_type is MetricType.COMPLEXITY
    assert report.job_id == latest.id
    assert sorted(m.metric_name for m in report.metrics) == ["cognitive", "cyclomatic"]
    assert report.get("cyclomatic") == MetricStats(
        metric_name="cyclomatic", count=3, min=2, max=12, avg=7, sum=21, violations=2
    )
    assert report.get("cognitive") == MetricStats(
        metric_name="cognitive", count=2, min=1.5, max=2.25, avg=1.875, sum=3.75, violations=0
    )


async def test_aggregate_metrics_without_a_completed_job_is_empty(backend: Backend) -> None:
    """A project with no completed job aggregates to no job and no metrics."""
    base = await scaffold(backend)
    source, running = file_index(base.repository.id), analysis_job(base.project.id)
    await store(backend, source, running, code_metric(source.id, running.id))

    report = await read(
        backend, lambda uow: uow.analysis.aggregate_metrics(base.project.id, MetricType.COMPLEXITY)
    )

    assert report.job_id is None
    assert report.metrics == ()


async def test_issues_summary_groups_recent_results_of_completed_jobs(backend: Backend) -> None:
    """Only results of the project's completed jobs within the last days count; rows go
    from critical to info, larger groups first, with the average confidence."""
    base, other = await scaffold(backend), await scaffold(backend)
    done = analysis_job(base.project.id, status="completed", created_at=at(-10))
    also_done = analysis_job(base.project.id, status="completed", created_at=at(-5))
    running = analysis_job(base.project.id, status="running")
    failed = analysis_job(base.project.id, status="failed")
    foreign = analysis_job(other.project.id, status="completed")
    await store(backend, done, also_done, running, failed, foreign)

    def issue(
        job: AnalysisJob, severity: str, category: str, confidence: float, age: float = 1
    ) -> AnalysisResult:
        return analysis_result(
            job.id,
            severity=severity,
            category=category,
            confidence=confidence,
            created_at=days_ago(age),
        )

    await store(
        backend,
        issue(done, "info", "documentation", 0.33),
        issue(done, "high", "bug", 1.0),
        issue(done, "high", "style", 0.9),
        issue(done, "low", "style", 0.6),
        issue(done, "high", "style", 0.8),
        issue(done, "critical", "security", 0.9, age=2),
        issue(done, "high", "bug", 0.5),
        issue(also_done, "high", "style", 0.75, age=29),
        issue(also_done, "medium", "performance", 0.7),
        issue(done, "critical", "bug", 0.4, age=40),
        issue(running, "critical", "security", 1.0),
        issue(failed, "critical", "security", 1.0),
        issue(foreign, "critical", "security", 1.0),
    )

    summary = await read(
        backend, lambda uow: uow.analysis.issues_summary(base.project.id, days=30, now=NOW)
    )

    assert summary.project_id == base.project.id
    assert summary.since == days_ago(30)
    rows = [
        (r.severity.value, r.category.value, r.count, round(r.avg_confidence, 2))
        for r in summary.rows
    ]
    assert rows == [
        ("critical", "security", 1, 0.9),
        ("high", "style", 3, 0.82),
        ("high", "bug", 2, 0.75),
        ("medium", "performance", 1, 0.7),
        ("low", "style", 1, 0.6),
        ("info", "documentation", 1, 0.33),
    ]


async def test_issues_summary_window_follows_days(backend: Backend) -> None:
    """A longer window takes in older results; a project without results sums to nothing."""
    base, empty = await scaffold(backend), await scaffold(backend)
    done = analysis_job(base.project.id, status="completed")
    await store(backend, done)
    await store(
        backend,
        *(
            analysis_result(done.id, severity="critical", created_at=days_ago(age))
            for age in (1, 40, 70)
        ),
    )

    async def total(project_id: ProjectId, days: int) -> int:
        summary = await read(
            backend, lambda uow: uow.analysis.issues_summary(project_id, days=days, now=NOW)
        )
        return summary.total

    assert await total(base.project.id, 30) == 1
    assert await total(base.project.id, 60) == 2
    assert await total(base.project.id, 90) == 3
    assert await total(empty.project.id, 30) == 0


async def test_hotspots_rank_files_by_issues_in_the_latest_completed_job(backend: Backend) -> None:
    """Hotspots list the files with the most results of the newest completed job, most
    first, with their worst severity, at most limit of them."""
    base = await scaffold(backend)
    a, b, c, quiet = (file_index(base.repository.id) for _ in range(4))
    older = analysis_job(base.project.id, status="completed", created_at=at(0))
    latest = analysis_job(base.project.id, status="completed", created_at=at(1))
    running = analysis_job(base.project.id, status="running", created_at=at(2))
    await store(backend, a, b, c, quiet, older, latest, running)

    def issues(job: AnalysisJob, source: FileIndex, *severities: str) -> list[AnalysisResult]:
        return [analysis_result(job.id, file_id=source.id, severity=s) for s in severities]

    await store(
        backend,
        *issues(latest, a, "low", "high", "info"),
        *issues(latest, b, "critical"),
        *issues(latest, c, "medium", "medium"),
        analysis_result(latest.id, severity="critical"),
        *issues(older, b, *["critical"] * 5),
        *issues(running, quiet, *["high"] * 5),
    )

    def ranking(spots: Iterable[FileHotspot]) -> list[tuple[FileId, str, int, Severity]]:
        return [(s.file_id, s.relative_path, s.issues, s.worst_severity) for s in spots]

    spots = await read(backend, lambda uow: uow.analysis.hotspots(base.project.id))
    assert ranking(spots) == [
        (a.id, a.relative_path, 3, Severity.HIGH),
        (c.id, c.relative_path, 2, Severity.MEDIUM),
        (b.id, b.relative_path, 1, Severity.CRITICAL),
    ]
    top = await read(backend, lambda uow: uow.analysis.hotspots(base.project.id, limit=2))
    assert ranking(top) == ranking(spots)[:2]


async def test_issues_summary_latest_only_counts_the_latest_completed_job(backend: Backend) -> None:
    """With latest_only the summary counts the newest completed job's results alone,
    not those of older jobs in the window."""
    base = await scaffold(backend)
    older = analysis_job(base.project.id, status="completed", created_at=days_ago(3))
    latest = analysis_job(base.project.id, status="completed", created_at=days_ago(2))
    await store(backend, older, latest)
    await store(
        backend,
        *(analysis_result(older.id, created_at=days_ago(3)) for _ in range(4)),
        *(analysis_result(latest.id, created_at=days_ago(2)) for _ in range(2)),
    )

    everything = await read(
        backend, lambda uow: uow.analysis.issues_summary(base.project.id, now=NOW)
    )
    latest_only = await read(
        backend,
        lambda uow: uow.analysis.issues_summary(base.project.id, now=NOW, latest_only=True),
    )

    assert everything.total == 6
    assert latest_only.total == 2


def _summary_reference(
    jobs: list[AnalysisJob],
    history: list[FileHistoryEntry],
    results: list[AnalysisResult],
    since: dt.datetime,
    latest_only: bool,
) -> list[tuple[str, str, int, float]]:
    """The summary as its definition reads, one window job at a time: every completed job
    of the window holds, for each file, the results of the file's latest history entry
    up to it (none once deleted), its own from when they were found, an earlier one's
    from when the job completed; and its results of no file."""
    completed = sorted(
        (j for j in jobs if j.status is JobStatus.COMPLETED), key=lambda j: (j.created_at, j.id)
    )
    window = [j for j in completed if (j.completed_at or j.created_at) > since]
    if latest_only:
        window = [j for j in window if j is completed[-1]]
    order = {j.id: (j.created_at, j.id) for j in completed}
    counted: dict[tuple[str, str], list[float]] = {}
    for job in window:
        latest: dict[FileId, FileHistoryEntry] = {}
        for entry in history:
            if entry.job_id in order and order[entry.job_id] <= order[job.id]:
                known = latest.get(entry.file_id)
                if known is None or order[entry.job_id] > order[known.job_id]:  # type: ignore[index]
                    latest[entry.file_id] = entry
        held = {f: e.job_id for f, e in latest.items() if e.change is not FileChange.DELETED}
        for r in results:
            mine = r.job_id == job.id if r.file_id is None else held.get(r.file_id) == r.job_id
            found = r.created_at if r.job_id == job.id else job.completed_at or job.created_at
            if mine and found > since:
                counted.setdefault((r.severity.value, r.category.value), []).append(r.confidence)
    rows = [(s, c, len(v), round(sum(v) / len(v), 6)) for (s, c), v in counted.items()]
    return sorted(rows, key=lambda r: (Severity(r[0]).rank, -r[2], r[1]))


async def test_issues_summary_counts_each_result_for_every_window_job_holding_it(
    backend: Backend,
) -> None:
    """Over a generated history (files analysed, left as they were, deleted and analysed
    again; a job that began before the window and completed in it; jobs that did not
    complete), the summary counts each result once for every completed job of the window
    that holds it, as its definition reads (:func:`_summary_reference`)."""
    rng = random.Random(41)
    base = await scaffold(backend)
    files = [file_index(base.repository.id, relative_path=f"src/m{i}.py") for i in range(7)]
    await store(backend, *files)
    starts = [55, 41, 33, 30.4, 24, 18, 11, 9, 4, 1]
    jobs = []
    for n, age in enumerate(starts):
        status = "failed" if n == 7 else "completed"
        # the fourth job began before the 30-day window and completed inside it
        took = dt.timedelta(days=0.8 if n == 3 else 0.01)
        jobs.append(
            analysis_job(
                base.project.id, status=status, created_at=days_ago(age),
                started_at=days_ago(age), completed_at=days_ago(age) + took,
            )
        )  # fmt: skip
    history: list[FileHistoryEntry] = []
    results: list[AnalysisResult] = []
    severities = ["critical", "high", "medium", "low", "info"]
    categories = ["bug", "style", "security"]
    for job in jobs:
        for file in files:
            change = rng.choice(["analysed", "analysed", "modified", "deleted", None, None])
            if change is None:
                continue
            history.append(
                FileHistoryEntry(
                    file_id=file.id, job_id=job.id, change=change,
                    relative_path=file.relative_path, created_at=job.created_at,
                )
            )  # fmt: skip
            if change == "deleted":
                continue
            for _ in range(rng.randrange(4)):
                results.append(
                    analysis_result(
                        job.id, file_id=file.id, severity=rng.choice(severities),
                        category=rng.choice(categories), confidence=rng.choice([0.5, 0.75, 1.0]),
                        created_at=job.created_at + dt.timedelta(hours=rng.choice([1, 6])),
                    )
                )  # fmt: skip
        results.append(analysis_result(job.id, severity="high", created_at=job.created_at))
    await store(backend, *jobs)
    await store(backend, *history, *results)

    for days, latest_only in ((30, False), (45, False), (10, False), (30, True), (60, True)):
        async with backend.uow() as uow:
            summary = await uow.analysis.issues_summary(
                base.project.id, days=days, now=NOW, latest_only=latest_only
            )
        got = [
            (r.severity.value, r.category.value, r.count, round(r.avg_confidence, 6))
            for r in summary.rows
        ]
        expected = _summary_reference(jobs, history, results, days_ago(days), latest_only)
        assert got == expected, (days, latest_only)
        assert sum(r[2] for r in expected) > 0
