"""PostgreSQL repository of analysis jobs, results and code metrics."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from psycopg.types.json import Jsonb

from adapters.common import check_limit, summary_since
from adapters.postgres._sql import (
    Repo,
    columns,
    copy_merge,
    entity_params,
    fetch_page,
    insert_sql,
    plain,
    to_entity,
    update_sql,
)
from adapters.postgres.organizations import versioned_update
from adapters.serialization import unstructure
from domain.analysis import AnalysisJob, AnalysisResult, CodeMetric
from domain.enums import Category, JobStatus, MetricType, Severity
from domain.ids import FileId, JobId, ProjectId
from domain.reports import (
    FileHotspot,
    IssuesSummary,
    IssuesSummaryRow,
    MetricAggregation,
    MetricStats,
)
from ports.errors import ValidationError
from ports.pagination import Page, PageRequest
from ports.repositories import JOB_SORTS, METRIC_SORTS, RESULT_SORTS, CodeSize, FileAnalysis

__all__ = ["PostgresAnalysisRepository"]

JOB_COLUMNS = (
    "id", "project_id", "job_type", "status", "priority", "config", "progress", "started_at",
    "completed_at", "error_message", "metadata", "created_at", "updated_at", "branch",
    "commit_hash", "dirty", "owner", "heartbeat_at", "lease_expires_at",
)  # fmt: skip
JOB_JSON = ("config", "metadata")
INSERT_JOB = insert_sql("analysis_jobs", JOB_COLUMNS)
SELECT_JOB = f"SELECT {columns(JOB_COLUMNS)} FROM analysis_jobs WHERE id = %(id)s"
UPDATE_JOB = update_sql(
    "analysis_jobs", JOB_COLUMNS, where="id = %(id)s AND updated_at = %(updated_at)s"
)
JOB_EXISTS = "SELECT 1 AS found FROM analysis_jobs WHERE id = %(id)s"
LIST_JOBS = (
    f"SELECT {columns(JOB_COLUMNS)} FROM analysis_jobs WHERE project_id = %(project_id)s"
    " AND (%(status)s::text IS NULL OR status = %(status)s)"
)
# a job of no branch (a detached HEAD) is of the branch ""; a job ``before`` that is
# missing leaves nothing before it
LATEST_JOB = (
    LIST_JOBS + " AND (%(branch)s::text IS NULL OR COALESCE(branch, '') = %(branch)s)"
    " AND (%(before)s::uuid IS NULL OR (created_at, id) <"
    " (SELECT b.created_at, b.id FROM analysis_jobs b WHERE b.id = %(before)s))"
    " ORDER BY created_at DESC, id DESC LIMIT 1"
)
JOBS_TO_DELETE = (
    "SELECT id, status FROM analysis_jobs WHERE id = ANY(%(ids)s::uuid[]) ORDER BY id FOR UPDATE"
)
DELETE_JOBS = "DELETE FROM analysis_jobs WHERE id = ANY(%(ids)s::uuid[])"
FILE_ANALYSES = """
SELECT h.job_id, h.file_id, h.change = 'deleted' AS deleted
FROM analysis_jobs j JOIN file_history h ON h.job_id = j.id
WHERE j.project_id = %(project_id)s
ORDER BY j.created_at, j.id, h.file_id
"""

RESULT_COLUMNS = (
    "id", "job_id", "file_id", "rule_id", "severity", "category", "title", "description",
    "line_start", "line_end", "column_start", "column_end", "suggestion", "confidence",
    "metadata", "created_at", "line_hash", "issue_id",
)  # fmt: skip
# results are staged and merged with their job's organization (found once per statement,
# not per row by the schema's trigger; an unknown job leaves it NULL, and the trigger
# reports the job missing)
MERGE_RESULTS = (
    f"INSERT INTO analysis_results ({columns(RESULT_COLUMNS)}, organization_id)"
    f" SELECT {columns(RESULT_COLUMNS, 's')}, j.organization_id"
    " FROM {stage} s LEFT JOIN analysis_jobs j ON j.id = s.job_id"
)
# a result's path is the one its file had in the job that found it
SELECT_RESULTS = (
    f"SELECT {columns(RESULT_COLUMNS, 'r')},"
    " COALESCE(h.relative_path, f.relative_path) AS file_path"
    " FROM analysis_results r"
    " LEFT JOIN file_history h ON h.job_id = r.job_id AND h.file_id = r.file_id"
    " LEFT JOIN file_index f ON f.id = r.file_id"
)
LIST_RESULTS_OF_FILE = SELECT_RESULTS + " WHERE r.file_id = %(file_id)s ORDER BY r.created_at, r.id"
DELETE_RESULTS_OF_JOB = "DELETE FROM analysis_results WHERE job_id = %(job_id)s"

# What a job holds (ports.repositories.AnalysisRepository): per file, the history entry of
# the latest analysis of it among the project's completed jobs up to the job (the job
# itself whatever its status). Statements built on it join results and metrics to it.
HELD = """
WITH target AS (
    SELECT id, project_id, created_at FROM analysis_jobs WHERE id = %(job_id)s
), held AS (
    SELECT DISTINCT ON (h.file_id) h.file_id, h.job_id, h.change, h.relative_path
    FROM target t
    JOIN analysis_jobs j ON j.project_id = t.project_id
        AND (j.created_at, j.id) <= (t.created_at, t.id)
        AND (j.status = 'completed' OR j.id = t.id)
    JOIN file_history h ON h.job_id = j.id
    ORDER BY h.file_id, j.created_at DESC, j.id DESC
)
"""
HELD_RESULTS = f"""
    SELECT {columns(RESULT_COLUMNS, "r")}, held.relative_path AS file_path
    FROM held JOIN analysis_results r ON r.job_id = held.job_id AND r.file_id = held.file_id
    WHERE held.change <> 'deleted'
    UNION ALL
    SELECT {columns(RESULT_COLUMNS, "r")}, NULL AS file_path
    FROM analysis_results r WHERE r.job_id = %(job_id)s AND r.file_id IS NULL
"""
LIST_RESULTS_OF_JOB = (
    HELD + f"SELECT * FROM ({HELD_RESULTS}) r"
    " WHERE (%(severities)s::text[] IS NULL OR r.severity = ANY(%(severities)s::text[]))"
    " AND (%(category)s::text IS NULL OR r.category = %(category)s)"
)
SEARCH_RESULTS = (
    HELD
    + f"""
SELECT * FROM ({HELD_RESULTS}) r
WHERE to_tsvector('english', r.title || ' ' || r.description)
      @@ plainto_tsquery('english', %(text)s)
ORDER BY ts_rank(to_tsvector('english', r.title || ' ' || r.description),
                 plainto_tsquery('english', %(text)s)) DESC, r.created_at, r.id
LIMIT %(limit)s
"""
)
HOTSPOTS = (
    HELD
    + """
SELECT r.file_id, held.relative_path, count(*) AS issues,
       min(CASE r.severity WHEN 'critical' THEN 1 WHEN 'high' THEN 2 WHEN 'medium' THEN 3
                           WHEN 'low' THEN 4 ELSE 5 END) AS worst_rank
FROM held JOIN analysis_results r ON r.job_id = held.job_id AND r.file_id = held.file_id
WHERE held.change <> 'deleted'
GROUP BY r.file_id, held.relative_path
ORDER BY issues DESC, worst_rank, held.relative_path COLLATE "C"
LIMIT %(limit)s
"""
)

# The files a job holds and their lines as last analysed; of them, those with an entry that
# added, changed, renamed or restored them after ``since`` among the history of the jobs
# up to the job (any status: what changed the file, not what was analysed of it).
CODE_SIZE = """
WITH target AS (
    SELECT id, project_id, created_at FROM analysis_jobs WHERE id = %(job_id)s
), held AS (
    SELECT DISTINCT ON (h.file_id) h.file_id, h.change, h.line_count
    FROM target t
    JOIN analysis_jobs j ON j.project_id = t.project_id
        AND (j.created_at, j.id) <= (t.created_at, t.id)
        AND (j.status = 'completed' OR j.id = t.id)
    JOIN file_history h ON h.job_id = j.id
    ORDER BY h.file_id, j.created_at DESC, j.id DESC
), sized AS (
    SELECT COALESCE(held.line_count, 0) AS lines,
           %(since)s::timestamptz IS NOT NULL AND EXISTS (
               SELECT 1 FROM target t, file_history c
               JOIN analysis_jobs cj ON cj.id = c.job_id
               WHERE c.file_id = held.file_id
                 AND (cj.created_at, cj.id) <= (t.created_at, t.id)
                 AND (cj.status = 'completed' OR cj.id = t.id)
                 AND c.change IN ('added', 'modified', 'renamed', 'restored')
                 AND cj.created_at > %(since)s
           ) AS changed
    FROM held WHERE held.change <> 'deleted'
)
SELECT count(*) AS files, COALESCE(sum(lines), 0) AS lines,
       count(*) FILTER (WHERE changed) AS new_files,
       COALESCE(sum(lines) FILTER (WHERE changed), 0) AS new_lines
FROM sized
"""

METRIC_COLUMNS = (
    "id", "file_id", "job_id", "metric_type", "metric_name", "value", "threshold_min",
    "threshold_max", "is_violation", "metadata", "created_at",
)  # fmt: skip
# Metrics are COPYed into a temporary stage and merged in one statement (natural keys are
# unique within a batch: the last metric of a key wins before the copy).
MERGE_METRIC_STAGE = (
    f"INSERT INTO code_metrics ({columns(METRIC_COLUMNS)}, organization_id)"
    f" SELECT {columns(METRIC_COLUMNS, 's')}, j.organization_id"
    " FROM {stage} s LEFT JOIN analysis_jobs j ON j.id = s.job_id"
    " ON CONFLICT (file_id, job_id, metric_type, metric_name) DO UPDATE SET"
    " value = EXCLUDED.value, threshold_min = EXCLUDED.threshold_min,"
    " threshold_max = EXCLUDED.threshold_max, is_violation = EXCLUDED.is_violation,"
    " metadata = EXCLUDED.metadata"
)
SELECT_METRICS_OF_FILE = (
    f"SELECT {columns(METRIC_COLUMNS)} FROM code_metrics WHERE file_id = %(file_id)s"
    " AND (%(job_id)s::uuid IS NULL OR job_id = %(job_id)s)"
    ' ORDER BY metric_type COLLATE "C", metric_name COLLATE "C", created_at, id'
)
HELD_METRICS = f"""
    SELECT {columns(METRIC_COLUMNS, "m")}
    FROM held JOIN code_metrics m ON m.job_id = held.job_id AND m.file_id = held.file_id
    WHERE held.change <> 'deleted'
"""
LIST_METRICS_OF_JOB = (
    HELD + f"SELECT * FROM ({HELD_METRICS}) m"
    " WHERE (%(metric_type)s::text IS NULL OR m.metric_type = %(metric_type)s)"
)

LATEST_COMPLETED_JOB = """
SELECT id FROM analysis_jobs
WHERE project_id = %(project_id)s AND status = 'completed'
ORDER BY created_at DESC, id DESC LIMIT 1
"""
AGGREGATE_METRICS = (
    HELD
    + f"""
SELECT metric_name, count(*) AS count, min(value) AS min, max(value) AS max,
       avg(value) AS avg, sum(value) AS sum,
       count(*) FILTER (WHERE is_violation) AS violations
FROM ({HELD_METRICS}) m
WHERE metric_type = %(metric_type)s
GROUP BY metric_name
ORDER BY metric_name COLLATE "C"
"""
)
# seed 000, section 3.9.2, over what each completed job of the window holds, with the
# window start as a parameter and 'info' ranked last
ISSUES_SUMMARY = """
WITH window_jobs AS MATERIALIZED (
    SELECT id, created_at
    FROM analysis_jobs
    WHERE project_id = %(project_id)s
      AND status = 'completed'
      AND COALESCE(completed_at, created_at) > %(since)s
      AND (NOT %(latest_only)s OR id = (
            SELECT id FROM analysis_jobs
            WHERE project_id = %(project_id)s AND status = 'completed'
            ORDER BY created_at DESC, id DESC LIMIT 1))
), jobs AS MATERIALIZED (
    -- the project's completed jobs up to the window's last, in order: whether each is a
    -- window job, and how many window jobs come before it
    SELECT j.id, w.id IS NOT NULL AS in_window,
           row_number() OVER (ORDER BY j.created_at, j.id) AS n,
           count(w.id) OVER (ORDER BY j.created_at, j.id) - (w.id IS NOT NULL)::int AS before
    FROM analysis_jobs j LEFT JOIN window_jobs w ON w.id = j.id
    WHERE j.project_id = %(project_id)s AND j.status = 'completed'
      AND j.created_at <= (SELECT max(created_at) FROM window_jobs)
), held AS MATERIALIZED (
    -- each history entry holds its file from its job until the file's next entry, so the
    -- window jobs from its own up to the next entry's hold it: its own job, when one of
    -- them (``own``), and the ``later`` ones
    SELECT file_id, job_id, in_window AS own,
           COALESCE(next_before, (SELECT count(*) FROM window_jobs)) - before
             - in_window::int AS later
    FROM (
        SELECT h.file_id, h.job_id, h.change, j.in_window, j.before,
               lead(j.before) OVER (PARTITION BY h.file_id ORDER BY j.n) AS next_before
        FROM file_history h JOIN jobs j ON j.id = h.job_id
    ) spans
    WHERE change <> 'deleted'
), ar AS (
    -- each result counts once for every window job holding it: for its own job from
    -- when it was found, for a later one from when that job completed (always in the
    -- window)
    SELECT r.severity, r.category, r.confidence,
           held.later + CASE WHEN held.own AND r.created_at > %(since)s THEN 1 ELSE 0 END
             AS times
    FROM held
    JOIN analysis_results r ON r.job_id = held.job_id AND r.file_id = held.file_id
    -- (the held entries' jobs are among these: read the results by job, not all of them)
    WHERE (held.own OR held.later > 0) AND r.job_id = ANY(ARRAY(SELECT id FROM jobs))
    UNION ALL
    SELECT r.severity, r.category, r.confidence, 1
    FROM window_jobs w JOIN analysis_results r ON r.job_id = w.id AND r.file_id IS NULL
    WHERE r.created_at > %(since)s
)
SELECT
    ar.severity,
    ar.category,
    sum(ar.times) AS count,
    sum(ar.times * ar.confidence) / sum(ar.times) AS avg_confidence
FROM ar
WHERE ar.times > 0
GROUP BY ar.severity, ar.category
ORDER BY
    CASE ar.severity
        WHEN 'critical' THEN 1
        WHEN 'high' THEN 2
        WHEN 'medium' THEN 3
        WHEN 'low' THEN 4
        WHEN 'info' THEN 5
    END,
    sum(ar.times) DESC,
    ar.category COLLATE "C"
"""
_SEVERITY_OF_RANK = {s.rank: s for s in Severity}


def _job(row: dict[str, Any]) -> AnalysisJob:
    return to_entity(row, AnalysisJob)


def _result(row: dict[str, Any]) -> AnalysisResult:
    data = dict(row)
    location = None
    if data["line_start"] is not None:
        location = {
            "file_path": data["file_path"] or "",
            "line_start": data["line_start"],
            "line_end": data["line_end"] if data["line_end"] is not None else data["line_start"],
            "column_start": data["column_start"],
            "column_end": data["column_end"],
        }
    for key in ("file_path", "line_start", "line_end", "column_start", "column_end"):
        del data[key]
    data["location"] = location
    return to_entity(data, AnalysisResult)


def _result_row(result: AnalysisResult) -> tuple[Any, ...]:
    loc = result.location
    values = {
        "id": result.id,
        "job_id": result.job_id,
        "file_id": result.file_id,
        "rule_id": result.rule_id,
        "severity": result.severity.value,
        "category": result.category.value,
        "title": result.title,
        "description": result.description,
        "line_start": loc.line_start if loc else None,
        "line_end": loc.line_end if loc else None,
        "column_start": loc.column_start if loc else None,
        "column_end": loc.column_end if loc else None,
        "suggestion": result.suggestion,
        "confidence": result.confidence,
        "metadata": Jsonb(unstructure(result.metadata)),
        "created_at": result.created_at,
        "line_hash": result.line_hash,
        "issue_id": result.issue_id,
    }
    return tuple(values[c] for c in RESULT_COLUMNS)


def _metric(row: dict[str, Any]) -> CodeMetric:
    return to_entity(row, CodeMetric)  # is_violation is derived, not read


def _metric_params(metric: CodeMetric) -> dict[str, Any]:
    params = entity_params(metric, json=("metadata",))
    params["is_violation"] = metric.is_violation
    return params


def _metric_row(metric: CodeMetric) -> tuple[Any, ...]:
    params = _metric_params(metric)
    return tuple(params[c] for c in METRIC_COLUMNS)


class PostgresAnalysisRepository(Repo):
    async def create_job(self, job: AnalysisJob) -> AnalysisJob:
        row = await self._one(INSERT_JOB, entity_params(job, json=JOB_JSON))
        assert row is not None
        return _job(row)

    async def find_job_by_id(self, id: JobId) -> AnalysisJob | None:
        row = await self._one(SELECT_JOB, {"id": id})
        return _job(row) if row else None

    async def update_job(self, job: AnalysisJob) -> AnalysisJob:
        params = entity_params(job, json=JOB_JSON)
        result: AnalysisJob = await versioned_update(
            self, UPDATE_JOB, params, JOB_EXISTS, "analysis job", AnalysisJob
        )
        return result

    async def list_jobs(
        self, project_id: ProjectId, page: PageRequest, *, status: JobStatus | None = None
    ) -> Page[AnalysisJob]:
        return await fetch_page(
            self, LIST_JOBS, {"project_id": project_id, "status": plain(status)}, page,
            sorts=JOB_SORTS, convert=_job,
        )  # fmt: skip

    async def latest_job(
        self,
        project_id: ProjectId,
        *,
        status: JobStatus | None = JobStatus.COMPLETED,
        branch: str | None = None,
        before: JobId | None = None,
    ) -> AnalysisJob | None:
        params = {
            "project_id": project_id,
            "status": plain(status),
            "branch": branch,
            "before": before,
        }
        row = await self._one(LATEST_JOB, params)
        return _job(row) if row else None

    async def create_results(self, results: Sequence[AnalysisResult]) -> int:
        if not results:
            return 0
        await copy_merge(
            await self._connection(),
            table="analysis_results",
            names=RESULT_COLUMNS,
            rows=(_result_row(r) for r in results),
            merge=MERGE_RESULTS,
        )
        return len(results)

    async def find_results_by_job(
        self,
        job_id: JobId,
        page: PageRequest,
        *,
        min_severity: Severity | None = None,
        category: Category | None = None,
    ) -> Page[AnalysisResult]:
        severities = (
            None if min_severity is None else [s.value for s in Severity if s >= min_severity]
        )
        params = {"job_id": job_id, "severities": severities, "category": plain(category)}
        return await fetch_page(
            self, LIST_RESULTS_OF_JOB, params, page, sorts=RESULT_SORTS, alias="r",
            convert=_result,
        )  # fmt: skip

    async def find_results_by_file(self, file_id: FileId) -> list[AnalysisResult]:
        rows = await self._all(LIST_RESULTS_OF_FILE, {"file_id": file_id})
        return [_result(r) for r in rows]

    async def delete_results_by_job(self, job_id: JobId) -> int:
        return await self._rowcount(DELETE_RESULTS_OF_JOB, {"job_id": job_id})

    async def create_metrics(self, metrics: Sequence[CodeMetric]) -> int:
        latest: dict[tuple[Any, ...], CodeMetric] = {}
        for metric in metrics:  # the last of a natural key wins
            latest[(metric.file_id, metric.job_id, metric.metric_type, metric.metric_name)] = metric
        if not latest:
            return 0
        await copy_merge(
            await self._connection(),
            table="code_metrics",
            names=METRIC_COLUMNS,
            rows=map(_metric_row, latest.values()),
            merge=MERGE_METRIC_STAGE,
        )
        return len(latest)

    async def find_metrics_by_file(
        self, file_id: FileId, *, job_id: JobId | None = None
    ) -> list[CodeMetric]:
        rows = await self._all(SELECT_METRICS_OF_FILE, {"file_id": file_id, "job_id": job_id})
        return [_metric(r) for r in rows]

    async def find_metrics_by_job(
        self, job_id: JobId, page: PageRequest, *, metric_type: MetricType | None = None
    ) -> Page[CodeMetric]:
        params = {"job_id": job_id, "metric_type": plain(metric_type)}
        return await fetch_page(
            self, LIST_METRICS_OF_JOB, params, page, sorts=METRIC_SORTS, alias="m",
            convert=_metric,
        )  # fmt: skip

    async def search_results(
        self, project_id: ProjectId, text: str, *, limit: int = 20
    ) -> list[AnalysisResult]:
        check_limit(limit)
        job = await self._one(LATEST_COMPLETED_JOB, {"project_id": project_id})
        if job is None:
            return []
        rows = await self._all(SEARCH_RESULTS, {"job_id": job["id"], "text": text, "limit": limit})
        return [_result(r) for r in rows]

    async def aggregate_metrics(
        self, project_id: ProjectId, metric_type: MetricType
    ) -> MetricAggregation:
        job = await self._one(LATEST_COMPLETED_JOB, {"project_id": project_id})
        if job is None:
            return MetricAggregation(
                project_id=project_id, metric_type=metric_type, job_id=None, metrics=()
            )
        rows = await self._all(
            AGGREGATE_METRICS, {"job_id": job["id"], "metric_type": metric_type.value}
        )
        stats = tuple(
            MetricStats(
                metric_name=r["metric_name"],
                count=int(r["count"]),
                min=float(r["min"]),
                max=float(r["max"]),
                avg=float(r["avg"]),
                sum=float(r["sum"]),
                violations=int(r["violations"]),
            )
            for r in rows
        )
        return MetricAggregation(
            project_id=project_id, metric_type=metric_type, job_id=job["id"], metrics=stats
        )

    async def issues_summary(
        self,
        project_id: ProjectId,
        *,
        days: int = 30,
        now: dt.datetime | None = None,
        latest_only: bool = False,
    ) -> IssuesSummary:
        since = summary_since(days, now)
        params = {"project_id": project_id, "since": since, "latest_only": latest_only}
        rows = await self._all(ISSUES_SUMMARY, params)
        return IssuesSummary(
            project_id=project_id,
            since=since,
            rows=tuple(
                IssuesSummaryRow(
                    severity=Severity(r["severity"]),
                    category=Category(r["category"]),
                    count=int(r["count"]),
                    avg_confidence=float(r["avg_confidence"]),
                )
                for r in rows
            ),
        )

    async def hotspots(self, project_id: ProjectId, *, limit: int = 10) -> list[FileHotspot]:
        check_limit(limit)
        job = await self._one(LATEST_COMPLETED_JOB, {"project_id": project_id})
        if job is None:
            return []
        rows = await self._all(HOTSPOTS, {"job_id": job["id"], "limit": limit})
        return [
            FileHotspot(
                file_id=r["file_id"],
                relative_path=r["relative_path"],
                issues=int(r["issues"]),
                worst_severity=_SEVERITY_OF_RANK[r["worst_rank"]],
            )
            for r in rows
        ]

    async def code_size(self, job_id: JobId, *, since: dt.datetime | None) -> CodeSize:
        row = await self._one(CODE_SIZE, {"job_id": job_id, "since": since})
        assert row is not None  # an aggregate answers one row
        return CodeSize(
            files=int(row["files"]),
            lines=int(row["lines"]),
            new_files=int(row["new_files"]),
            new_lines=int(row["new_lines"]),
        )

    async def file_analyses(self, project_id: ProjectId) -> list[FileAnalysis]:
        rows = await self._all(FILE_ANALYSES, {"project_id": project_id})
        return [
            FileAnalysis(job_id=r["job_id"], file_id=r["file_id"], deleted=r["deleted"])
            for r in rows
        ]

    async def delete_jobs(self, job_ids: Sequence[JobId]) -> int:
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return 0
        # locked, so that no pending job starts between the check and the deletion
        jobs = await self._all(JOBS_TO_DELETE, {"ids": ids})
        for job in jobs:
            status = JobStatus(job["status"])
            if not status.is_terminal:
                raise ValidationError(
                    "job_ids",
                    str(job["id"]),
                    f"names a {status} job: only finished jobs are deleted",
                )
        if not jobs:
            return 0
        return await self._rowcount(DELETE_JOBS, {"ids": [j["id"] for j in jobs]})
